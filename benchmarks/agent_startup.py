"""CPU cost of one node-agent process per verb: what every agent call on a node starts with.

    .venv/bin/python benchmarks/agent_startup.py            # 20 runs per verb, median user+sys CPU
    .venv/bin/python benchmarks/agent_startup.py --repeat 41 --python /usr/bin/python3
    mkdir /tmp/old && git archive 9c32eb6 src/skyhop_agent | tar -x -C /tmp/old && \
      .venv/bin/python benchmarks/agent_startup.py --agent-src /tmp/old/src/skyhop_agent --site   # the agent before issue 9's start-up work, as it was run

A one-node cluster of the agent alone (copied and byte-compiled as `AgentClient.install`
does, then `init`), one finished job in it, and each verb run as a whole process
exactly as the broker's process path runs it (`python -S -m skyhop_agent --base BASE VERB`,
PYTHONPATH at the copy; `--site` drops the `-S`, as the broker ran it before). CPU time is the process's own user+sys from `wait4`, so a busy
machine inflates it far less than wall time; `submit` counts the submitting process,
`run-job` the detached driver it starts (this process is made their subreaper to reap it,
and the driver's job is `true`). The interpreter floors (`-c pass` with and without
site) are printed for reference.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

AGENT_SRC = Path(__file__).resolve().parents[1] / "src" / "skyhop_agent"
PR_SET_CHILD_SUBREAPER = 36


def run(argv: list[str], env: dict[str, str], input: bytes = b"") -> tuple[float, bytes]:
    """(CPU ms, stdout) of one process; reaped with wait4 so its own usage is known."""
    process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    process.stdin.write(input)
    process.stdin.close()
    out = process.stdout.read()
    err = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = 0  # reaped here; keep Popen from trying again
    if status != 0:
        raise RuntimeError(f"{argv} exited {status}: {out!r} {err!r}")
    return (usage.ru_utime + usage.ru_stime) * 1000, out


def reap_driver() -> float:
    """CPU ms of the next reparented child to end (a detached job driver)."""
    _, status, usage = os.wait4(-1, 0)
    return (usage.ru_utime + usage.ru_stime) * 1000


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--repeat", type=int, default=20)
    cli.add_argument("--python", default=sys.executable, help="the interpreter that runs the agent")
    cli.add_argument("--agent-src", type=Path, default=AGENT_SRC, help="the skyhop_agent package to measure")
    cli.add_argument("--site", action="store_true", help="run the verbs without -S")
    args = cli.parse_args()
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    root = Path(tempfile.mkdtemp(prefix="agent-startup-"))
    try:
        measure(root, args.agent_src, [args.python] if args.site else [args.python, "-S"], args.repeat)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def measure(root: Path, agent_src: Path, python: list[str], repeat: int) -> None:
    agent_root = root / "agent"
    shutil.copytree(agent_src, agent_root / "skyhop_agent", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([python[0], "-m", "compileall", "-q", str(agent_root / "skyhop_agent")], check=True)
    base = root / "node-0"
    (base / "workdir").mkdir(parents=True)
    config = root / "cluster.init.json"
    config.write_text(json.dumps({
        "cluster_name": "c", "provider": "local", "user": "bench",
        # The node is its jobs' HOME, as on the local provider: `bash -i` reads no ~/.bashrc of this machine's.
        "nodes": [{"rank": 0, "ip": "127.0.0.1", "base": str(base), "workdir": str(base / "workdir"), "home": str(base)}],
        "resources": {"cpus": 64, "memory_gib": 16, "gpus": {}, "gpu_ids": {}},
        "remove_on_down": [str(root)],
    }))
    env = dict(os.environ, PYTHONPATH=str(agent_root))
    agent = [*python, "-m", "skyhop_agent", "--base", str(base)]
    run(agent + ["init", "--config", str(config)], env)
    spec = json.dumps({"name": "j", "run": "true", "num_nodes": 1}).encode()
    run(agent + ["submit", "--spec", "-"], env, spec)
    reap_driver()
    calls: dict[str, tuple[list[str], bytes]] = {
        "python -c pass": ([python[0], "-c", "pass"], b""),
        "python -S -c pass": ([python[0], "-S", "-c", "pass"], b""),
        "--help": (agent + ["--help"], b""),
        "health": (agent + ["health"], b""),
        "status 1": (agent + ["status", "1"], b""),
        "queue": (agent + ["queue"], b""),
        "wait 1 (ended)": (agent + ["wait", "1"], b""),
        "logs 1": (agent + ["logs", "1"], b""),
        "autostop": (agent + ["autostop"], b""),
        "init": (agent + ["init", "--config", str(config)], b""),
    }
    results: dict[str, list[float]] = {name: [] for name in [*calls, "submit", "run-job (driver of `true`)"]}
    for _ in range(2):  # warm-up: page cache, bytecode
        for argv, data in calls.values():
            run(argv, env, data)
    for _ in range(repeat):
        for name, (argv, data) in calls.items():
            results[name].append(run(argv, env, data)[0])
        results["submit"].append(run(agent + ["submit", "--spec", "-"], env, spec)[0])
        results["run-job (driver of `true`)"].append(reap_driver())
    print(f"| agent process ({' '.join(python)} -m skyhop_agent, {repeat} runs) | CPU ms median | p90 |")
    print("|---|---:|---:|")
    for name, values in results.items():
        values.sort()
        print(f"| {name} | {statistics.median(values):.1f} | {values[int(len(values) * 0.9) - 1]:.1f} |")


if __name__ == "__main__":
    main()
