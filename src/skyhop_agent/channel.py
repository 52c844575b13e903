"""The daemon's Unix socket: agent verbs answered by one long-lived process.

Every verb used to be a fresh `python -m skyhop_agent` on the head (a start-up
of ~100 ms CPU and ~15 MB per call, one process per log follower). The daemon
answers them on `BASE/agent.sock` instead, a thread per connection, so a
status poll is a connect and a line, and a log follower is a thread.

Protocol (version 1), one request per connection:

- on accept the daemon sends a greeting line, `{"skyhop_agent": VERSION, "protocol": 1}`;
  a client that does not get it sent nothing and may use the process path instead;
- the client sends one JSON object and a newline: `{"verb": V, "args": [...], "input": TEXT}`
  (`input` is what the CLI verb would read on stdin: the job spec of `submit`);
- the daemon answers one line: `{"ok": RESULT}` (RESULT is what the CLI verb prints)
  or `{"error": MESSAGE}` (what the CLI verb prints on stderr with exit code 2),
  and closes; for `logs` the `{"ok": ...}` line is followed by the raw log bytes
  until the log ends (or the client hangs up); for `functions` (no CLI verb: a
  session of function calls, skyhop_agent/fnrelay.py) by frames both ways until
  the client hangs up.

Only the owner can connect: the base directory is 0700, the socket 0600, and
the peer's uid (SO_PEERCRED) must be the daemon's. Requests are bounded
(`MAX_REQUEST` bytes, `REQUEST_TIMEOUT_S`), connections too (`MAX_CONNECTIONS`);
whatever a client sends, it gets an error line and the daemon carries on.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import sqlite3
import struct
import subprocess
import threading

from skyhop_agent import __version__, cli, scheduler
from skyhop_agent.errors import AgentError
from skyhop_agent.paths import Layout

TYPE_CHECKING = False  # typing's constant without importing typing (see cli.py)
if TYPE_CHECKING:
    from typing import Any, Callable

PROTOCOL = 1
#: The longest request line: a job spec with its scripts and environment fits many times over.
MAX_REQUEST = 8 * 1024 * 1024
#: A client has this long to send its request once connected.
REQUEST_TIMEOUT_S = 30.0
#: Connections served at once (log followers included); more are refused with an error line.
MAX_CONNECTIONS = 512
#: The verbs the socket answers; the rest (init, daemon-start/stop, self-stop/down, ...)
#: stay CLI-only: they start or end the daemon itself.
VERBS = ("health", "submit", "queue", "status", "cancel", "logs", "autostop", "stop-jobs", "functions")
# sun_path holds 108 bytes; longer paths are reached through /proc/self/fd/N/NAME.
_SUN_PATH_MAX = 100
_UCRED = struct.Struct("3i")


def greeting() -> bytes:
    return json.dumps({"skyhop_agent": __version__, "protocol": PROTOCOL}).encode() + b"\n"


def bind(sock: socket.socket, path: str) -> None:
    """`sock.bind(path)`, also for paths longer than sun_path allows (through the directory's fd)."""
    _at_path(sock.bind, path)


def connect(sock: socket.socket, path: str) -> None:
    """`sock.connect(path)`, also for paths longer than sun_path allows."""
    _at_path(sock.connect, path)


def _at_path(op: Callable[[str], None], path: str) -> None:
    if len(path.encode()) <= _SUN_PATH_MAX:
        op(path)
        return
    directory, name = os.path.split(path)
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        op(f"/proc/self/fd/{fd}/{name}")
    finally:
        os.close(fd)


class Server:
    """The socket and its accept thread; `handle` runs one verb (see `Dispatcher`)."""

    def __init__(self, layout: Layout, health: Callable[[], dict[str, Any]], adopt: Callable[[list[subprocess.Popen]], None]) -> None:
        self.layout = layout
        self.dispatch = Dispatcher(layout, health, adopt)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        # Bound and listening under a temporary name, then renamed into place: whoever
        # sees the socket can connect (`daemon-start` waits for it), and a stale one
        # left by a killed daemon is replaced in one step.
        path = layout.channel_socket
        bound = f"{path}.{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(bound)
        old_umask = os.umask(0o177)
        try:
            bind(self.listener, bound)
        finally:
            os.umask(old_umask)
        os.chmod(bound, 0o600)
        self.listener.listen(MAX_CONNECTIONS)  # a burst of connects is queued, not refused
        self.inode = os.stat(bound).st_ino
        os.replace(bound, path)

    def start(self) -> None:
        threading.Thread(target=self._accept_loop, name="channel-accept", daemon=True).start()

    def close(self) -> None:
        """Stop listening and remove the socket (only ours: a newer daemon may have bound the path)."""
        with contextlib.suppress(OSError):
            if os.stat(self.layout.channel_socket).st_ino == self.inode:
                os.unlink(self.layout.channel_socket)
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()

    def _accept_loop(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed
            if not self._slots.acquire(blocking=False):
                _refuse(conn, "The agent is serving too many connections; try again.")
                continue
            threading.Thread(target=self._serve, args=(conn,), name="channel-conn", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if _peer_uid(conn) != os.getuid():
                _refuse(conn, "Only the cluster's owner may use this socket.")
                return
            conn.sendall(greeting())
            conn.settimeout(REQUEST_TIMEOUT_S)
            try:
                request = _read_request(conn)
            except AgentError as error:
                _reply(conn, {"error": str(error)})
                return
            with cli.connections_closed():
                self.dispatch(conn, request)
        except OSError:
            pass  # the client went away
        except Exception:
            import traceback  # here: the daemon's start need not pay for it

            traceback.print_exc()  # an agent bug: into daemon.log, and the daemon lives on
            with contextlib.suppress(OSError):
                _reply(conn, {"error": "internal error in the node agent (see daemon.log on the head)"})
        finally:
            conn.close()
            self._slots.release()


def _peer_uid(conn: socket.socket) -> int:
    _, uid, _ = _UCRED.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
    return uid


def _refuse(conn: socket.socket, message: str) -> None:
    with contextlib.suppress(OSError):
        _reply(conn, {"error": message})
    conn.close()


def _reply(conn: socket.socket, message: dict[str, Any]) -> None:
    conn.sendall(json.dumps(message).encode() + b"\n")


def _read_request(conn: socket.socket) -> dict[str, Any]:
    """The request line as an object; AgentError for anything else (too long, not JSON, wrong shape)."""
    data = bytearray()
    end = -1
    while end < 0:
        try:
            chunk = conn.recv(65536)
        except socket.timeout:
            raise AgentError(f"No request within {REQUEST_TIMEOUT_S:g} s.") from None
        if not chunk:
            raise AgentError("The request ended before its newline.")
        newline = chunk.find(b"\n")  # only the new bytes: a long request is not rescanned per chunk
        end = len(data) + newline if newline >= 0 else -1
        data += chunk
        if end > MAX_REQUEST or (end < 0 and len(data) > MAX_REQUEST):
            raise AgentError(f"The request is longer than {MAX_REQUEST} bytes.")
    line = bytes(data[:end])
    try:
        request = json.loads(line)
    except ValueError as error:
        raise AgentError(f"The request is not JSON: {error}") from None
    if not isinstance(request, dict) or not isinstance(request.get("verb"), str):
        raise AgentError('The request must be an object with a "verb".')
    args, text = request.get("args", []), request.get("input")
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args) or not (text is None or isinstance(text, str)):
        raise AgentError('"args" must be a list of strings and "input" a string.')
    return {"verb": request["verb"], "args": args, "input": text}


class Dispatcher:
    """One request: the CLI verb's own parser and handler, answered on the connection."""

    def __init__(self, layout: Layout, health: Callable[[], dict[str, Any]], adopt: Callable[[list[subprocess.Popen]], None]) -> None:
        self.layout = layout
        self.health = health
        self.adopt = adopt

    def __call__(self, conn: socket.socket, request: dict[str, Any]) -> None:
        verb = request["verb"]
        try:
            if verb not in VERBS:
                raise AgentError(f"Unknown verb {verb[:80]!r} on the agent socket (it answers {', '.join(VERBS)}).")
            if verb == "functions":
                self._functions(conn, request.get("input"))
                return
            args = self._parse(verb, request["args"])
            if verb == "logs":
                self._logs(conn, args)
                return
            result = self._run(verb, args, request.get("input"))
        except AgentError as error:
            _reply(conn, {"error": str(error)})
            return
        except (OSError, sqlite3.Error) as error:  # what the CLI reports as `{"error": ...}` too
            _reply(conn, {"error": f"{type(error).__name__}: {error}"})
            return
        _reply(conn, {"ok": result})

    def _parse(self, verb: str, args: list[str]) -> cli.Args:
        try:
            return cli.parse(["--base", self.layout.base, verb, *args])
        except SystemExit:  # `--help`: argparse printed usage (into daemon.log) and wants to exit
            raise AgentError(f"{verb}: bad arguments.") from None

    def _run(self, verb: str, args: cli.Args, text: str | None) -> Any:
        """The verb's result; the drivers it started (a submit, or the next job after a cancel) go to the daemon to reap."""
        with scheduler.drivers_started() as drivers:
            try:
                return self._result(verb, args, text)
            finally:
                self.adopt(drivers)

    def _result(self, verb: str, args: cli.Args, text: str | None) -> Any:
        if verb == "submit":
            if args.spec != "-" or text is None:
                raise AgentError('submit on the agent socket takes the spec as "input" (--spec -).')
            try:
                raw = json.loads(text)
            except ValueError as error:
                raise AgentError(f"The job spec is not valid JSON: {error}") from None
            return cli.submit(self.layout, raw)
        result = args.handler(self.layout, args)
        if verb == "health":
            result = {**result, **self.health()}
        return result

    def _logs(self, conn: socket.socket, args: cli.Args) -> None:
        """The header line, then the log as `logs` prints it, until it ends or the client hangs up."""
        from skyhop_agent import autostop, logs

        path, job_id, finished = cli.log_source(self.layout, args)
        conn.settimeout(None)
        _reply(conn, {"ok": {"job_id": job_id}})
        with autostop.hold_while_following(self.layout) if args.follow else contextlib.nullcontext():
            # A client that hung up ends the follow (its thread would poll until the job ends).
            logs.stream(path, _SocketOut(conn), args.follow, args.tail, lambda: _hung_up(conn) or finished())


    def _functions(self, conn: socket.socket, text: str | None) -> None:
        """A functions session: the workers started, the header line, then frames until the client hangs up."""
        from skyhop_agent import config, fnrelay

        slots, env = fnrelay.parse_input(text)
        if os.path.exists(self.layout.stopped):
            raise AgentError("The cluster is stopped; start it again before calling functions on it.")
        relay = fnrelay.Relay(self.layout, config.load(self.layout), slots, env)
        try:
            workers = relay.start()
            conn.settimeout(None)
            _reply(conn, {"ok": {"workers": workers}})
            relay.serve(conn)
        finally:
            relay.close()


class _SocketOut:
    """The file-like end `logs.stream` writes to; `sendall`, as a raw socket write may be partial."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn

    def write(self, data: bytes) -> None:
        self.conn.sendall(data)

    def flush(self) -> None:
        pass


def _hung_up(conn: socket.socket) -> bool:
    """The client closed its end (clients send nothing after the request; anything they do send is dropped)."""
    readable, _, _ = select.select([conn], [], [], 0)
    if not readable:
        return False
    try:
        return not conn.recv(65536, socket.MSG_DONTWAIT)
    except BlockingIOError:
        return False
    except OSError:
        return True
