"""Helpers for the node agent tests: real clusters of local nodes built in `tmp_path`.

The agent package is copied to `tmp_path/agent/skyhop_agent` and run with
PYTHONPATH pointing there and `python -S`, exactly as the broker runs it on a node. Every
process the agent starts inherits a per-cluster tag in its environment, so
teardown can find and kill anything a test left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Callable

AGENT_SRC = Path(__file__).resolve().parents[2] / "src" / "skyhop_agent"
TAG_VAR = "SKYHOP_AGENT_TEST_TAG"
TIMEOUT_S = 20.0


def poll(check: Callable[[], Any], timeout: float = TIMEOUT_S, what: str = "condition") -> Any:
    """Call `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.02)


def gone(pid: int) -> bool:
    """True when `pid` no longer runs (a zombie counts as gone: it holds nothing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2] in "ZX"


def tagged_pids(tag: str) -> list[int]:
    """Live processes whose environment carries `tag` (everything a test's agent started)."""
    needle = f"{TAG_VAR}={tag}".encode()
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != os.getpid():
            try:
                environ = Path(f"/proc/{name}/environ").read_bytes()
            except OSError:
                continue
            if needle in environ.split(b"\0") and not gone(int(name)):
                found.append(int(name))
    return found


class Agent:
    """One cluster's agent, driven through its real CLI in subprocesses."""

    def __init__(self, root: Path, num_nodes: int, python: str) -> None:
        self.root = root
        self.python = python
        self.tag = uuid.uuid4().hex
        self.agent_root = root / "agent"
        self.cluster_dir = root / "clusters" / "c"
        self.nodes = [self.cluster_dir / f"node-{rank}" for rank in range(num_nodes)]
        self.base = self.nodes[0]

    def env(self) -> dict[str, str]:
        env = dict(os.environ, PYTHONPATH=str(self.agent_root))
        env[TAG_VAR] = self.tag
        return env

    def argv(self, *args: str) -> list[str]:
        return [self.python, "-S", "-m", "skyhop_agent", "--base", str(self.base), *args]  # -S: as the broker starts it

    def run(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.argv(*args), input=input, capture_output=True, text=True, env=self.env(), timeout=60
        )

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            self.argv(*args), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env()
        )

    def ok(self, *args: str, input: str | None = None) -> dict[str, Any]:
        """Run a verb that must succeed; its one JSON object."""
        result = self.run(*args, input=input)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        lines = result.stdout.splitlines()
        assert len(lines) == 1, result.stdout
        return json.loads(lines[0])

    def error(self, *args: str, input: str | None = None) -> str:
        """Run a verb that must be refused; its error message (exit 2, one JSON line, no traceback)."""
        result = self.run(*args, input=input)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        assert result.stdout == ""
        return json.loads(result.stderr.strip())["error"]

    def submit(self, **spec: Any) -> int:
        return self.ok("submit", "--spec", "-", input=json.dumps(spec))["job_id"]

    def record(self, job_id: int) -> dict[str, Any]:
        return self.ok("status", str(job_id))["jobs"][0]

    def wait_status(self, job_id: int, *statuses: str) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            record = self.record(job_id)
            return record if record["status"] in statuses else None

        return poll(reached, what=f"job {job_id} to be {'/'.join(statuses)}")

    def wait(self, job_id: int) -> dict[str, Any]:
        return self.ok("wait", str(job_id))

    def log(self, job_id: int) -> str:
        result = self.run("logs", str(job_id))
        assert result.returncode == 0, result.stderr
        return result.stdout

    def job_dir(self, job_id: int) -> Path:
        return self.base / "jobs" / str(job_id)

    def recorded_pids(self, job_id: int) -> list[int]:
        return [int(line) for line in (self.job_dir(job_id) / "pids").read_text().split()]

    def teardown(self) -> None:
        if (self.base / "cluster.json").exists():
            self.run("stop-jobs")
            self.run("daemon-stop")
        for pid in tagged_pids(self.tag):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


MakeCluster = Callable[..., Agent]
