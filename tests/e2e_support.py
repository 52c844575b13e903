"""Helpers for end-to-end tests: the real CLI as a user runs it, and process checks."""

from __future__ import annotations

import functools
import http.server
import json
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from helpers import subprocess_env

from skyhop.providers.local.provider import MARKER
from skyhop_agent.proctree import pid_alive as alive


@dataclass
class Result:
    code: int
    out: str
    err: str


class Sky:
    """Runs `skyhop ...` as a user would, against this test's SKYHOP_HOME."""

    def __init__(self, home: Path, workdir: Path) -> None:
        self.home = home
        self.skyhop_home = home / ".skyhop"
        self.cwd = workdir
        self.env = subprocess_env(home)

    def __call__(self, *args: str, timeout: float = 120, check: bool = False) -> Result:
        done = subprocess.run([sys.executable, "-m", "skyhop.cli.main", *args], capture_output=True, text=True, env=self.env, cwd=self.cwd, timeout=timeout)
        result = Result(done.returncode, done.stdout, done.stderr)
        if check:
            assert result.code == 0, f"skyhop {' '.join(args)} failed ({result.code}):\n{result.out}\n{result.err}"
        assert "Traceback" not in result.err, result.err
        return result

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "skyhop.cli.main", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env, cwd=self.cwd)

    def json(self, *args: str) -> object:
        return json.loads(self(*args, "--output", "json", check=True).out)

    def clusters(self) -> dict[str, dict]:
        return {c["name"]: c for c in self.json("status")}

    def jobs(self, cluster: str) -> dict[int, dict]:
        return {j["job_id"]: j for j in self.json("queue", cluster)}

    def node_dir(self, cluster: str, rank: int = 0) -> Path:
        return self.skyhop_home / "clusters" / cluster / f"node-{rank}"

    def server_pid(self) -> int:
        return int(json.loads((self.skyhop_home / "api" / "server.json").read_text())["pid"])

    def task(self, name: str, text: str) -> str:
        path = self.cwd / name
        path.write_text(text)
        return str(path)


@contextmanager
def serve_directory(directory: Path, address: str = "127.0.0.1") -> Iterator[str]:
    """A real HTTP server for `directory` on `address` (a free port); yields its base URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer((address, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://{address}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def wait_for(predicate: Callable[[], object], timeout: float = 60, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def pid_gone(pid: int) -> bool:
    return not alive(pid)


def cluster_processes(skyhop_home: Path) -> list[int]:
    """Live processes carrying the local-cluster marker of any cluster under this home."""
    prefix = f"{MARKER}={skyhop_home / 'clusters'}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(item.startswith(prefix) for item in environ) and not pid_gone(int(entry.name)):
            found.append(int(entry.name))
    return found
