"""Stress the node agent's job queue and count jobs wrongly failed as "job driver exited unexpectedly".

    .venv/bin/python benchmarks/agent_race.py                     # 300 jobs, 4 submitters, daemon running
    mkdir /tmp/old && git archive 40d6961 src/skyhop_agent | tar -x -C /tmp/old && \
      .venv/bin/python benchmarks/agent_race.py --agent-src /tmp/old/src/skyhop_agent   # the agent before the fix

A one-node cluster of the agent alone (copied as the broker installs it, `init`, `daemon-start`),
then `--jobs` tiny jobs (`true`) submitted by `--threads` threads at once, alternately through the
daemon's socket and as `submit` processes (the CLI path), every `--cancel-every`th job cancelled
right after its submit (half of the cancels on the socket, half as processes). Drivers that finish
schedule the next job, the daemon's tick checks the drivers every 0.5 s: every place that starts
a driver or checks one is busy at once. It prints how the jobs ended, the wall time, and the jobs
that ended FAILED with the daemon's orphan reason (what issue 11's 5,000-job pool run met once).

The race behind that one failure is narrow (a daemon tick reading a driver's pid while the kernel
still shows the driver's command line empty, mid-exec), so the queue run rarely meets it; first the
script probes it directly: `--probe` processes started as drivers are, each checked with
`is_agent_process` (of `--agent-src`) the moment Popen returns, and it prints how many were not
recognised and how long the check took.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

AGENT_SRC = Path(__file__).resolve().parents[1] / "src" / "skyhop_agent"
ORPHANED = "job driver exited unexpectedly"


class Cluster:
    """The agent of one local node under `root`, spoken to by process and by socket."""

    def __init__(self, root: Path, agent_src: Path, python: str, cpus: int) -> None:
        self.root = root
        self.python = python
        self.base = root / "node"
        shutil.copytree(agent_src, root / "agent" / "skyhop_agent", ignore=shutil.ignore_patterns("__pycache__"))
        (self.base / "workdir").mkdir(parents=True)
        config = {
            "cluster_name": "race", "provider": "local", "user": "bench",
            "nodes": [{"rank": 0, "ip": "127.0.0.1", "base": str(self.base), "workdir": str(self.base / "workdir")}],
            "resources": {"cpus": cpus, "memory_gib": 1, "gpus": {}, "gpu_ids": {}},
            "remove_on_down": [str(root)], "autostop_hooks": None,
        }
        (root / "cluster.json").write_text(json.dumps(config))
        self.cli("init", "--config", str(root / "cluster.json"), "--start-daemon")

    def cli(self, *args: str, input: str | None = None) -> Any:
        env = dict(os.environ, PYTHONPATH=str(self.root / "agent"))
        argv = [self.python, "-S", "-m", "skyhop_agent", "--base", str(self.base), *args]
        done = subprocess.run(argv, input=input, capture_output=True, text=True, env=env, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stderr.strip()}")
        return json.loads(done.stdout)

    def ask(self, verb: str, *args: str, input: str | None = None) -> Any:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(str(self.base / "agent.sock"))
            reader = sock.makefile("rb")
            reader.readline()  # the greeting
            sock.sendall(json.dumps({"verb": verb, "args": list(args), "input": input}).encode() + b"\n")
            reply = json.loads(reader.readline())
        if "error" in reply:
            raise RuntimeError(f"{verb} failed: {reply['error']}")
        return reply["ok"]

    def close(self) -> None:
        self.cli("stop-jobs")
        self.cli("daemon-stop")


def submitter(cluster: Cluster, numbers: list[int], cancel_every: int, job_ids: list[int]) -> None:
    spec = json.dumps({"run": "true", "cpus": 1})
    for n in numbers:
        by_socket = n % 2 == 0
        job_id = (cluster.ask("submit", "--spec", "-", input=spec) if by_socket else
                  cluster.cli("submit", "--spec", "-", input=spec))["job_id"]
        job_ids.append(job_id)
        if cancel_every and n % cancel_every == cancel_every - 1:
            (cluster.ask if n % (2 * cancel_every) < cancel_every else cluster.cli)("cancel", str(job_id))


def probe(agent_src: Path, count: int) -> None:
    """How often `is_agent_process` of this agent misses a process checked right as Popen returns."""
    sys.path.insert(0, str(agent_src.parent))
    from skyhop_agent import DRIVER_VERB, proctree

    missed, took = 0, []
    for n in range(count):
        argv = [sys.executable, "-S", "-c", "import time; time.sleep(60)", "skyhop_agent", "--base", "/probe", DRIVER_VERB, str(n)]
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True)
        started = time.perf_counter()
        missed += not proctree.is_agent_process(process.pid, "/probe", DRIVER_VERB, str(n))
        took.append(time.perf_counter() - started)
        process.kill()
        process.wait()
    took.sort()
    print(f"probe: {missed} of {count} drivers not recognised right after Popen; "
          f"check median {took[len(took) // 2] * 1000:.2f} ms, max {took[-1] * 1000:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--cpus", type=int, default=4, help="the node's CPUs: jobs (1 CPU each) running at once")
    parser.add_argument("--cancel-every", type=int, default=7, help="cancel every Nth job (0: none)")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--agent-src", type=Path, default=AGENT_SRC)
    parser.add_argument("--probe", type=int, default=500, help="processes for the direct probe (0: none)")
    parser.add_argument("--dir", default=None, help="where the cluster lives (/dev/shm: commits skip the disk's fsync)")
    options = parser.parse_args()
    if options.probe:
        probe(options.agent_src, options.probe)
    if not options.jobs:
        return
    root = Path(tempfile.mkdtemp(prefix="agent-race-", dir=options.dir))
    cluster = Cluster(root, options.agent_src, options.python, options.cpus)
    try:
        job_ids: list[int] = []
        started = time.monotonic()
        threads = [
            threading.Thread(target=submitter, args=(cluster, list(range(i, options.jobs, options.threads)),
                                                     options.cancel_every, job_ids))
            for i in range(options.threads)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        while True:
            jobs = cluster.ask("queue")["jobs"]
            if all(job["status"] in ("SUCCEEDED", "FAILED", "FAILED_SETUP", "CANCELLED") for job in jobs):
                break
            time.sleep(0.2)
        wall = time.monotonic() - started
        counts = collections.Counter(job["status"] for job in jobs)
        orphaned = [job for job in jobs if job["failure_reason"] == ORPHANED]
        print(f"{len(jobs)} jobs in {wall:.1f} s: {dict(sorted(counts.items()))}")
        print(f"failed as '{ORPHANED}': {len(orphaned)} {[job['job_id'] for job in orphaned]}")
        for job in orphaned[:5]:
            runtime = (job["ended_at"] or 0) - (job["started_at"] or job["ended_at"] or 0)
            print(f"  job {job['job_id']}: ended {runtime * 1000:.0f} ms after it started")
        for line in (cluster.base / "daemon.log").read_text().splitlines():
            if ORPHANED in line:
                print(f"  daemon.log: {line}")
    finally:
        cluster.close()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
