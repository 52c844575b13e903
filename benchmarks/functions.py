"""Function calls as a user makes them (issue 14): a no-op `fn() >> pool` on a warm pool, and `map` of tiny items.

    .venv/bin/python benchmarks/functions.py               # local provider and two SSH namespace hosts (root)
    .venv/bin/python benchmarks/functions.py --only local

Each case opens `skyhop.Pool(nodes=2)` on a fresh SKYHOP_HOME (the local provider, or an SSH node pool of
two namespace hosts), warms it with 50 calls, then times N no-op calls one at a time on each node
(`pool.run(noop, node=R)`: rank 0 is the head's own worker, rank 1 adds the head's ssh to the other node),
and `pool.map` of 10,000 small ints (identity) with the pool's adaptive batching and without it
(`batch=1`). The issue's budget: a no-op under 5 ms on local, and within 1.5x of one SSH round trip
on SSH hosts. The floor printed beside it is `ssh head true`, through skyhop's ControlMaster (what skyhop
itself pays per command) and as a fresh connection.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from fn_relay import ssh_pool_home, ssh_true
from run import DEFAULT_CATALOG, scratch_env, skyhop_command, summary

CALLS = 1000
ITEMS = 10_000


def noop() -> None:
    return None


def identity(x: int) -> int:
    return x


def measure(infra: str, env: dict[str, str], calls: int) -> dict[str, Any]:
    """The case's numbers; the API server the pool started on the scratch home is stopped afterwards."""
    os.environ.update(HOME=env["HOME"], SKYHOP_HOME=env["SKYHOP_HOME"], SKYHOP_CATALOG_DIR=env["SKYHOP_CATALOG_DIR"])
    try:
        return _measure(infra, calls)
    finally:
        subprocess.run(skyhop_command() + ["api", "stop"], env=env, capture_output=True)


def _measure(infra: str, calls: int) -> dict[str, Any]:
    import skyhop

    started = time.perf_counter()
    with skyhop.Pool(infra=infra, nodes=2, quiet=True) as pool:
        result: dict[str, Any] = {"open_s": time.perf_counter() - started}
        for rank in range(2):
            for _ in range(50):
                pool.run(noop, node=rank)
            samples = []
            for _ in range(calls):
                began = time.perf_counter()
                pool.run(noop, node=rank)
                samples.append(time.perf_counter() - began)
            result[f"rank{rank}"] = summary(samples)
        for label, batch in (("map", None), ("map_unbatched", 1)):
            began = time.perf_counter()
            done = sum(1 for _ in pool.map(identity, range(ITEMS), batch=batch))
            result[label] = done / (time.perf_counter() - began)
    return result


def local_case(calls: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fnbench-") as tmp:
        return measure("local", scratch_env(DEFAULT_CATALOG, Path(tmp)), calls)


def ssh_case(calls: int) -> dict[str, Any]:
    with ssh_pool_home() as (env, hosts):
        result = measure("ssh/bench", env, calls)
        result["ssh_master"] = summary(ssh_true(hosts[0], master=True))
        result["ssh_fresh"] = summary(ssh_true(hosts[0], master=False))
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("local", "ssh"))
    parser.add_argument("--calls", type=int, default=CALLS)
    args = parser.parse_args()
    print("| provider | pool open s | no-op rank 0 p50 ms | p99 ms | no-op rank 1 p50 ms | p99 ms | map items/s | map items/s (batch=1) "
          "| `ssh head true` ControlMaster p50 ms | fresh ssh p50 ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for provider, case in {"local": local_case, "ssh": ssh_case}.items():
        if args.only and provider != args.only:
            continue
        r = case(args.calls)
        floors = [f"{r[k]['median_ms']:.2f}" if k in r else "-" for k in ("ssh_master", "ssh_fresh")]
        print(f"| {provider} | {r['open_s']:.1f} | {r['rank0']['median_ms']:.2f} | {r['rank0']['p99_ms']:.2f} | {r['rank1']['median_ms']:.2f} "
              f"| {r['rank1']['p99_ms']:.2f} | {r['map']:,.0f} | {r['map_unbatched']:,.0f} | {floors[0]} | {floors[1]} |", flush=True)


if __name__ == "__main__":
    main()
