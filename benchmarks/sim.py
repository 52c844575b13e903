"""The Can't Be Late comparison: `skyhop sim spot` on the paper's 2-week AWS traces, timed.

    .venv/bin/python benchmarks/sim.py                   # 300 starts a trace, deadlines 60 h and 56 h
    .venv/bin/python benchmarks/sim.py --starts 50 --deadline 60h

Runs the real CLI (`skyhop sim spot ... --output json`) once per deadline on
the four single-instance traces of ../shared/traces/spot-traces/availability/
1-node/aws-10-26-2022 (V100 and K80, us-west-2a and 2b), and prints a
markdown table per deadline: cost normalised to on-demand only, deadlines
met, mean gap to the omniscient optimum and spot hours relative to it, per
trace and over all four, with the wall time of the command.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TRACES = HERE.parent.parent / "shared" / "traces" / "spot-traces" / "availability" / "1-node" / "aws-10-26-2022"
NAMES = ("us-west-2a_v100_1", "us-west-2b_v100_1", "us-west-2a_k80_1", "us-west-2b_k80_1")


def run(deadline: str, starts: int) -> tuple[dict, float, list[str]]:
    argv = ["skyhop", "sim", "spot", *(a for name in NAMES for a in ("--trace", str(TRACES / f"{name}.json"))), "--deadline", deadline, "--starts", str(starts)]
    begin = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "skyhop.cli.main", *argv[1:], "--output", "json"], capture_output=True, text=True, check=True)
    return json.loads(result.stdout), time.perf_counter() - begin, argv


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def markdown(data: dict) -> str:
    lines = ["| trace | policy | cost vs on-demand | deadlines met | gap to omniscient | spot hours vs omniscient |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    blocks = [(Path(t["trace"]).stem, t["policies"]) for t in data["traces"]] + [("**all four**", data["all"])]
    for label, rows in blocks:
        for row in rows:
            cells = (label, row["policy"], f"{row['normalized_cost']:.3f}", percent(row["deadlines_met"]), percent(row["gap_to_omniscient"]), percent(row["spot_hours_vs_omniscient"]))
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="skyhop sim spot on the Can't Be Late traces")
    parser.add_argument("--starts", type=int, default=300)
    parser.add_argument("--deadline", action="append", help="deadline(s) to run (default: 60h and 56h)")
    args = parser.parse_args(argv)
    for deadline in args.deadline or ["60h", "56h"]:
        data, seconds, command = run(deadline, args.starts)
        print(f"\n### 48 h job, deadline {deadline}, changeover 0.2 h, {args.starts} starts a trace ({seconds:.0f} s)\n")
        print(f"`{' '.join(command).replace(str(TRACES), '../shared/traces/spot-traces/availability/1-node/aws-10-26-2022')}`\n")
        print(markdown(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
