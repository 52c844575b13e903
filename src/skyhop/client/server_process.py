"""Find the API server, starting a local one on first use.

The local server publishes `SKYHOP_HOME/api/server.json` (url, pid, token).
A file lock makes concurrent first uses start exactly one server; the others
wait for it and reuse it. A remote server (team mode) is named by
`SKYHOP_API_SERVER_URL` (with `SKYHOP_API_TOKEN`), else by the login that
`skyhop api login` stored (client/remote.py); only without either is the
local server used.

Both are checked once per process against this client's API version
(client/versions.py), from the health answer the local case asks for anyway:
an older local server is replaced when no request runs in it; a remote
server, or a local one that cannot be replaced now, is one paragraph saying
what to upgrade.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Callable, Iterator, Sequence

from skyhop import paths
from skyhop.errors import SkyhopError
from skyhop_agent.proctree import pid_alive as alive

if TYPE_CHECKING:
    from pathlib import Path

START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Endpoint:
    url: str
    token: str | None
    pid: int | None = None  # local servers only
    start: str | None = None  # local servers only: the start that made it (see `start_local`)


def read_info() -> Endpoint | None:
    """The local server's address and token, from a file only this user may have written."""
    for owned in (paths.home(), paths.api_dir(), paths.server_info_file()):
        paths.require_own(owned)
    try:
        data = json.loads(paths.server_info_file().read_text(encoding="utf-8"))
        return Endpoint(str(data["url"]), data.get("token"), int(data["pid"]), data.get("start"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def healthy(endpoint: Endpoint) -> dict[str, Any] | None:
    """The server's health answer (with its versions), or None if it does not answer."""
    from skyhop.client.http import health

    return health(endpoint)


BUSY_WAIT_S = 30.0


def _running_local() -> tuple[Endpoint, dict[str, Any]] | None:
    """The local server and its health answer if its process lives; None if there is none.

    A live server that does not answer (busy, or stuck) is waited for and
    then reported, never replaced: two servers on one home would each think
    they own its requests and clusters.
    """
    info = read_info()
    if info is None or info.pid is None or not alive(info.pid):
        return None
    deadline = time.monotonic() + BUSY_WAIT_S
    while (answer := healthy(info)) is None:
        if not alive(info.pid):
            return None
        if time.monotonic() > deadline:
            raise SkyhopError(
                f"The API server (pid {info.pid}, {info.url}) is running but has not answered for {BUSY_WAIT_S:g} s; "
                f"see {paths.api_dir() / 'server.log'}. `skyhop api stop` stops it; the next command starts a fresh one."
            )
        time.sleep(0.2)
    return info, answer


def running_local() -> Endpoint | None:
    """The local server if its process lives (whatever its version); None if there is none."""
    found = _running_local()
    return found[0] if found is not None else None


@contextmanager
def _start_lock() -> Iterator[None]:
    paths.private_dir(paths.api_dir())
    with open(paths.api_dir() / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


#: Names one start of the local server (see `start_local`); the server writes it into server.json.
START_ENV = "SKYHOP_API_SERVER_START"
#: The command that starts the local API server, instead of this Python's `-m skyhop.server`.
COMMAND_ENV = "SKYHOP_API_SERVER_COMMAND"


def server_command() -> list[str]:
    """How the local server is started: `SKYHOP_API_SERVER_COMMAND` when set (a wrapper such as
    `nice -n 10 python3 -m skyhop.server`, or a profiler's; split as a shell would, never run by one),
    else this interpreter with `-m skyhop.server`."""
    configured = _configured_command()
    if not configured:
        return [sys.executable, "-m", "skyhop.server"]
    import shlex

    try:
        return shlex.split(configured)
    except ValueError as error:
        raise SkyhopError(f"{COMMAND_ENV} is not a command line ({error}): {configured!r}.") from None


def _configured_command() -> str:
    return os.environ.get(COMMAND_ENV, "").strip()


def start_local(argv: Sequence[str] = (), on_output: Callable[[str], None] | None = None) -> Endpoint:
    """Start a local server (unless one runs) and wait until it answers.

    `argv` goes to the server (`--team --host ... --port ...`). With `on_output`, the server's stdout comes to this
    process and each line it prints before it serves is handed over (a team server's one-time admin token, which must
    never reach its log); the rest of its output goes to the log."""
    with _start_lock():
        running = running_local()
        if running is not None:
            return running
        return _start_locked(argv, on_output)


def _start_locked(argv: Sequence[str] = (), on_output: Callable[[str], None] | None = None) -> Endpoint:
    """`start_local` once the caller holds the start lock and saw no server running."""
    import secrets  # a start only: with subprocess, ~8 ms that every other command would pay
    import shlex
    import subprocess

    log_path = paths.api_dir() / "server.log"
    # The server names this start in its server.json: a file left by an earlier server is never taken
    # for it, whatever process the command turns into (a wrapper may fork; see `server_command`).
    start = secrets.token_hex(8)
    with open(os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab") as log:
        # In skyhop's own directory, not the caller's: `python -m` puts the working
        # directory first on sys.path, so a `json.py` or `re.py` in the user's project
        # would replace the stdlib module in the server (and the agents it starts).
        command = [*server_command(), *argv]
        try:
            child = subprocess.Popen(
                command, cwd=paths.api_dir(), env={**os.environ, START_ENV: start},
                stdin=subprocess.DEVNULL, stdout=log if on_output is None else subprocess.PIPE, stderr=log, start_new_session=True,
                close_fds=True,
            )
        except OSError as error:
            raise SkyhopError(f"Could not start the API server with {shlex.join(command)!r}: {error.strerror or error}.") from None
    output = _Lines(child.stdout, on_output) if on_output is not None and child.stdout is not None else None
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            if output is not None:
                output.take()
            info = read_info()
            if info is not None and info.start == start and healthy(info) and (output is None or output.done(deadline)):
                return info
            # Exit code 0 of a configured command is a wrapper that handed the server on (`systemd-run`, `cmd &`):
            # the server of this start may still come. The server itself never ends a start with 0.
            if child.poll() is not None and (child.returncode or not _configured_command()):
                raise SkyhopError(_start_failure(child.returncode, log_path))
            time.sleep(0.02)
    finally:
        if child.stdout is not None:
            child.stdout.close()
    try:
        os.killpg(child.pid, signal.SIGKILL)  # the command's session: with a wrapper, the server it started too
    except ProcessLookupError:
        pass
    child.wait()
    ended = f" (`{shlex.join(command)}` exited with code 0)" if child.returncode == 0 else ""
    raise SkyhopError(f"The API server did not answer within {START_TIMEOUT_S:g} s{ended}; see {log_path}.")


#: The line a team server prints once it serves (server/__main__.py TEAM_READY): what came before is for the user.
_READY = "skyhop API server (team mode) listening on"


class _Lines:
    """A starting server's stdout, read without blocking, up to its ready line."""

    def __init__(self, stream: IO[bytes], on_line: Callable[[str], None]) -> None:
        self._fd = stream.fileno()
        os.set_blocking(self._fd, False)
        self._buffer = b""
        self._on_line = on_line
        self.ready = False

    def take(self) -> None:
        while not self.ready:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                return
            if not data:
                self.ready = True  # the server closed its stdout: nothing more will come
                return
            self._buffer += data
            while b"\n" in self._buffer and not self.ready:
                line, self._buffer = self._buffer.split(b"\n", 1)
                text = line.decode(errors="replace")
                if text.startswith(_READY):
                    self.ready = True
                else:
                    self._on_line(text)

    def done(self, deadline: float) -> bool:
        """The ready line seen (it follows server.json by a moment: wait for it, not past `deadline`)."""
        import select

        while not self.ready and time.monotonic() < deadline:
            select.select([self._fd], [], [], 0.2)
            self.take()
        return self.ready


def endpoint(*, autostart: bool = True) -> Endpoint | None:
    """The server to talk to: the environment's, else the one logged in to, else the local one (started if needed)."""
    url = os.environ.get("SKYHOP_API_SERVER_URL")
    if url:
        return _checked(Endpoint(url.rstrip("/"), os.environ.get("SKYHOP_API_TOKEN")))
    from skyhop.client import remote

    login = remote.read()
    if login is not None:
        return _checked(Endpoint(login.url, login.token))
    found = _running_local()
    running = found[0] if found is not None else None
    if running is not None and running.token is None:
        raise SkyhopError(
            f"The API server of this SKYHOP_HOME ({running.url}, pid {running.pid}) runs in team mode: it takes users' tokens, "
            f"not its server.json. Log in with `skyhop api login {running.url}` (an admin makes your token with "
            "`skyhop tokens create --user YOU`)."
        )
    if found is not None:
        return _fitting_local(*found, replace=autostart)
    return start_local() if autostart else None


def local(*, autostart: bool = True, argv: Sequence[str] = ()) -> Endpoint | None:
    """The local server this client can use: started (with `argv`) if none runs (`autostart`), replaced first if
    older and idle (with this client's defaults)."""
    found = _running_local()
    if found is None:
        return start_local(argv) if autostart else None
    return _fitting_local(*found, replace=autostart)


#: Remote servers whose API this process has checked (one health call per process, not one per call).
_checked_remote: set[str] = set()


def _checked(remote: Endpoint) -> Endpoint:
    """`remote`, once its health says this client can use it (asked once per process and URL)."""
    if remote.url in _checked_remote:
        return remote
    from skyhop.client.http import health
    from skyhop.client.versions import problem

    answer = health(remote, timeout=10.0)
    if answer is None:
        return remote  # unreachable or not ok: the call itself says so, and the next one checks again
    found = problem(remote.url, answer, local=False)
    if found is not None:
        raise SkyhopError(found)
    _checked_remote.add(remote.url)
    return remote


def _fitting_local(info: Endpoint, answer: dict[str, Any], *, replace: bool) -> Endpoint:
    """The local server if this client can use it as it is; an older one is replaced first when no request runs in it.

    Replacing is what `skyhop api stop` and the next command do by hand: requests and controllers
    are handed over through the database, but a request in flight may fail ("interrupted"), so
    a busy server is kept (and refused only when its API is too old for this client).
    """
    from skyhop.client.versions import older_than_client, problem

    found = problem(info.url, answer, local=True)
    # A team server (no token in server.json) was started with its own settings: never ours to replace.
    if not (replace and info.token is not None and older_than_client(answer)):
        if found is not None:
            raise SkyhopError(found)
        return info
    with _start_lock():
        again = _running_local()
        if again is None:
            return _start_locked()
        if again[0].pid != info.pid:  # another client replaced it meanwhile
            return _fitting_local(*again, replace=False)
        if _busy(info):
            if found is not None:
                raise SkyhopError(
                    f"{found.rstrip('.')}. It was not restarted because requests are running in it: when they end "
                    "(skyhop api status), run skyhop api stop; the next command starts this version's server."
                )
            return info
        stop_local()
        return _start_locked()


def _busy(info: Endpoint) -> bool:
    """Whether a request runs in the server (also when it cannot say: then it is not ours to stop)."""
    from skyhop.client.http import call

    try:
        return bool(call(info, "GET", "/api/v1/requests", params={"active": True, "limit": 1}, timeout=10.0))
    except SkyhopError:
        return True


def stop_local(timeout: float = 15.0) -> bool:
    """Stop the local server (requests in flight are resumed, or failed saying why, at the next start)."""
    info = read_info()
    if info is None or info.pid is None or not alive(info.pid):
        paths.server_info_file().unlink(missing_ok=True)
        return False
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(info.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive(info.pid):
        os.kill(info.pid, signal.SIGKILL)
    paths.server_info_file().unlink(missing_ok=True)
    return True


def _start_failure(code: int | None, log_path: Path) -> str:
    """Why a start failed: the server's own one-paragraph error when it wrote one last (server/__main__.py), else the log's tail."""
    tail = log_path.read_text(errors="replace")[-2000:]
    last = tail.rstrip("\n").rpartition("\n")[2]
    if last.startswith("Error: "):
        return f"The API server failed to start: {last.removeprefix('Error: ')} (its log: {log_path})"
    return f"The API server failed to start (exit code {code}). Its log ({log_path}) ends with:\n{tail}"
