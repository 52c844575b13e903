"""Helpers for end-to-end tests: the real CLI as a user runs it, and process checks."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import zygote
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
        done = zygote.cli(list(args), self.env, self.cwd, timeout)
        result = Result(done.returncode, done.stdout, done.stderr)
        if check:
            assert result.code == 0, f"skyhop {' '.join(args)} failed ({result.code}):\n{result.out}\n{result.err}"
        assert "Traceback" not in result.err, result.err
        return result

    def popen(self, *args: str) -> subprocess.Popen:
        """The CLI in the background, with Ctrl-C as a terminal delivers it (see `_as_from_a_terminal`)."""
        return subprocess.Popen([sys.executable, "-m", "skyhop.cli.main", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env, cwd=self.cwd, preexec_fn=_as_from_a_terminal)

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

    def seed_state(self, template: Path) -> None:
        seed_state(self.skyhop_home, template)

    def teardown(self) -> None:
        """Take down whatever the test left up, then stop its API server.

        `down --all` runs only when something may be up (a cluster record or a
        cluster directory): for the many tests that took their clusters down
        themselves, it would start a server just to find nothing. The server is
        stopped in-process, as `skyhop api stop` does (that verb has its own tests).
        """
        try:
            if self.anything_up():
                self("down", "--all", "-y", timeout=120)
        finally:
            stop_api_server(self.skyhop_home)

    def teardown_leaving_nothing(self) -> None:
        """`teardown`, then fail if any process started for one of this home's clusters is still alive (killed first)."""
        import os

        try:
            self.teardown()
        finally:
            leftovers = cluster_processes(self.skyhop_home)
            for pid in leftovers:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            assert not leftovers, f"processes left behind after the test's teardown: {leftovers}"

    def anything_up(self) -> bool:
        if "SKYHOP_DB_URL" in self.env:
            return True  # the records live elsewhere: ask the server
        clusters = self.skyhop_home / "clusters"
        if clusters.is_dir() and any(clusters.iterdir()):
            return True
        database = self.skyhop_home / "state.db"
        if not database.exists():
            return False
        try:
            with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)) as db:
                return db.execute("SELECT count(*) FROM clusters").fetchone()[0] > 0
        except sqlite3.Error:
            return True  # cannot tell: take down whatever there is


def _as_from_a_terminal() -> None:
    """SIGINT and SIGQUIT back to their defaults: a suite started in the background of a non-interactive shell
    (`pytest ... &`) runs with both ignored, every process it starts inherits that, and a CLI that ignores SIGINT
    could never show what Ctrl-C does."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


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


def seed_state(skyhop_home: Path, template: Path) -> None:
    """Start `skyhop_home` from a copy of an already migrated state database, as every later
    run of a user's skyhop does: the first server start then skips the migrations (about half
    a CPU second each). The first run's migration stays tested by tests that do not seed."""
    skyhop_home.mkdir(mode=0o700, exist_ok=True)
    target = skyhop_home / "state.db"
    shutil.copyfile(template, target)
    target.chmod(0o600)


def stop_api_server(skyhop_home: Path) -> None:
    """Stop the API server of `skyhop_home`, if one runs (SIGTERM, then SIGKILL after 5 s), and the load balancers
    it left (they outlive their server by design, and a test's home outlives the test until pytest rotates it)."""
    import os
    import signal

    _stop_load_balancers(skyhop_home)
    try:
        pid = int(json.loads((skyhop_home / "api" / "server.json").read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if alive(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _stop_load_balancers(skyhop_home: Path) -> None:
    import os
    import signal

    folder = str(skyhop_home / "services").encode()
    for pid in _processes("cmdline", lambda argv: b"skyhop.serve.lb" in argv and any(arg.startswith(folder) for arg in argv)):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def _processes(what: str, match: Callable[[list[bytes]], bool]) -> list[int]:
    """Live processes whose /proc/PID/`what` (cmdline, environ: NUL-separated) satisfies `match`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            items = (entry / what).read_bytes().split(b"\0")
        except OSError:
            continue
        if match(items) and not pid_gone(int(entry.name)):
            found.append(int(entry.name))
    return found


def wait_for(predicate: Callable[[], object], timeout: float = 60, what: str = "condition") -> object:
    """Poll `predicate` every 0.2 s until it is truthy; its value, or AssertionError after `timeout` s.

    The pause stays short even though most checks run the real CLI: several tests wait for a state
    that lasts only seconds (a cluster INIT while a held cloud call is in flight), and a pause that
    grew with the check's cost missed it under load.
    """
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
    return _processes("environ", lambda environ: any(item.startswith(prefix) for item in environ))
