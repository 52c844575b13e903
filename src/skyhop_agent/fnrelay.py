"""The relay of a functions session: one worker per node, frames routed by rank.

The `functions` verb on the daemon's socket (skyhop_agent/channel.py) turns its
connection into a session: the relay starts `python -u -m skyhop_agent.fnworker`
on every node of the cluster the way a job's run starts (`nodeexec`, so an
interactive bash whose ~/.bashrc has applied: `python` is the one the user's
`run:` gets; over the head's ssh for the other nodes), with the job variables
(`SKYPILOT_NODE_RANK`, ...) and the caller's own per rank. Once every worker
said HELLO the caller gets one line, `{"ok": {"workers": [HELLO + "rank"]}}`,
and from then on frames (skyhop_agent/fnwire.py) flow both ways: the caller's
to the worker of the frame's rank, the workers' back on the socket. The relay
reads headers and copies bytes; it never unpickles.

Each worker has a writer thread fed by a queue bounded in bytes, so a worker
that reads slowly holds up only the caller's frames to it once its queue is
full, and a stdout reader that copies its frames to the socket under one lock.
A worker whose pipe ends is reported once as a LOST frame (`{"rank", "host",
"reason"}`, the exit status and the end of its stderr), and every later frame
for its rank is answered with another. When the caller hangs up, every
worker's stdin is closed (the worker exits at EOF) and what has not exited
after `GRACE_S` is killed.

Standard library only: the daemon imports this.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import hashlib
import io
import json
import os
import shlex
import shutil
import subprocess
import threading
import time

from skyhop_agent import fnwire, proctree
from skyhop_agent.errors import AgentError
from skyhop_agent.fnwire import Frame
from skyhop_agent.nodeexec import NODE_MARKER, node_command, write_script

TYPE_CHECKING = False  # typing's constant without importing typing (see cli.py)
if TYPE_CHECKING:
    import socket
    from typing import Any, BinaryIO, Callable

    from skyhop_agent.config import Cluster, Node
    from skyhop_agent.paths import Layout

#: What the daemon's verb always runs; a test may pass another module to `Relay`.
WORKER_MODULE = "skyhop_agent.fnworker"
#: How long a worker has to say HELLO (a node's ~/.bashrc may activate a conda env first).
HELLO_TIMEOUT_S = 120.0
#: How long workers get to exit after their stdin closed before they are killed.
GRACE_S = 5.0
#: Bytes of the caller's frames queued for one worker before the socket reader waits for it.
QUEUE_BYTES = 64 * 1024 * 1024
#: The end of a worker's stderr kept for its LOST reason or start error.
STDERR_TAIL = 2048
#: Bytes a node's shell may print on stdout before the worker starts (a chatty ~/.bashrc).
NOISE_MAX = 1024 * 1024



def parse_input(text: str | None) -> tuple[int | None, dict[int, dict[str, str]]]:
    """`(slots, env by rank)` of the verb's input `{"slots": N | null, "env": {RANK: {VAR: VALUE}}}`; AgentError otherwise."""
    try:
        raw = json.loads(text or "{}")
    except ValueError as error:
        raise AgentError(f"The functions request is not JSON: {error}") from None
    if not isinstance(raw, dict):
        raise AgentError('The functions request must be an object {"slots": N | null, "env": {RANK: {VAR: VALUE}}}.')
    slots = raw.get("slots")
    if slots is not None and (not isinstance(slots, int) or isinstance(slots, bool) or not 1 <= slots <= fnwire.MAX_SLOTS):
        raise AgentError(f'"slots" must be null or a whole number from 1 to {fnwire.MAX_SLOTS}, got {slots!r}.')
    env = raw.get("env") or {}
    if not isinstance(env, dict):
        raise AgentError('"env" must be an object {RANK: {VAR: VALUE}}.')
    by_rank: dict[int, dict[str, str]] = {}
    for rank, variables in env.items():
        if not (isinstance(rank, str) and rank.isascii() and rank.isdigit()) or not isinstance(variables, dict):
            raise AgentError(f'"env" maps ranks ("0", "1", ...) to objects of variables; got {rank!r}.')
        for name, value in variables.items():
            if not isinstance(value, str) or not name or "=" in name or "\0" in name or "\0" in value:
                raise AgentError(f'"env" variables are NAME: "VALUE" strings (no "=" in a name, no NUL); got {name!r} on rank {rank}.')
        by_rank[int(rank)] = dict(variables)
    return slots, by_rank


def worker_argv(module: str, rank: int, slots: int | None) -> list[str]:
    """What follows `python` in a worker's command line."""
    return ["-u", "-m", module, "--rank", str(rank)] + ([] if slots is None else ["--slots", str(slots)])


def _agent_root() -> str:
    """The directory holding this `skyhop_agent` package (what PYTHONPATH needs)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# Unpacks the packages (JSON of relative path -> text on stdin, base64) into $1, once per version:
# nodes other than the head have no agent, and a worker needs fnwire and fnworker there (and the
# caller's cloudpickle, when the broker shipped one to the head: see `_SHIPPED`).
_UNPACK = """import base64, json, os, shutil, sys
root = sys.argv[1]
files = json.loads(base64.b64decode(sys.stdin.read()))
if not os.path.isdir(root):
    tmp = "%s.tmp.%d" % (root, os.getpid())
    os.makedirs(tmp, mode=0o700)
    for name, text in files.items():
        path = os.path.join(tmp, name)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    try:
        os.rename(tmp, root)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
"""


#: The packages the worker's nodes get from the head: the agent, and cloudpickle when the broker shipped
#: the caller's beside it (execution/agent.py `ship_cloudpickle`), so every node pickles as the caller does.
_SHIPPED = ("skyhop_agent", "cloudpickle")


def _agent_files() -> tuple[str, str]:
    """`(version digest, base64 JSON of the packages' modules)`, for nodes that have no agent."""
    files = {}
    for package in _SHIPPED:
        directory = os.path.join(_agent_root(), package)
        if not os.path.isdir(directory):
            continue
        for name in sorted(os.listdir(directory)):
            if name.endswith(".py"):
                with open(os.path.join(directory, name), encoding="utf-8") as f:
                    files[f"{package}/{name}"] = f.read()
    data = json.dumps(files, sort_keys=True).encode()
    import base64

    return hashlib.sha256(data).hexdigest()[:16], base64.b64encode(data).decode()


def worker_script(node: Node, module: str, rank: int, slots: int | None, marker: str) -> str:
    """The script a worker starts with: PYTHONPATH to the agent, the marker, then the worker.

    The marker ends whatever the node's shell printed on stdout before (a ~/.bashrc that
    echoes); the relay skips up to it. `python` when there is one, as `run:` would use, else `python3`.
    """
    if node.exec_prefix is None:
        lines = [f"export PYTHONPATH={shlex.quote(_agent_root())}${{PYTHONPATH:+:$PYTHONPATH}}"]
    else:
        version, files = _agent_files()
        root = f'"${NODE_MARKER}/agent/fn-{version}"'
        lines = [
            f"python3 -S -c {shlex.quote(_UNPACK)} {root} <<'SKYHOP_AGENT_FILES' || exit 1",
            files,
            "SKYHOP_AGENT_FILES",
            f"export PYTHONPATH={root}${{PYTHONPATH:+:$PYTHONPATH}}",
        ]
    args = shlex.join(worker_argv(module, rank, slots))
    lines += [
        f"printf '%s' {marker}",
        f"if command -v python >/dev/null 2>&1; then exec python {args}; fi",
        f"exec python3 {args}",
    ]
    return "\n".join(lines) + "\n"


def session_env(cluster: Cluster, session: str, rank: int) -> dict[str, str]:
    """The job variables of node `rank` (SKYPILOT_NODE_RANK, _NODE_IPS, _NUM_NODES, ...), as a job on every node gets them.

    A session is no job of the table: SKYPILOT_JOB_ID is 0 and the task id names the session.
    """
    from skyhop_agent.envvars import job_env
    from skyhop_agent.jobtable import Job

    nodes = len(cluster.nodes)
    row = {
        "job_id": 0, "name": None, "user": cluster.user, "status": "RUNNING", "submitted_at": time.time(),
        "started_at": None, "ended_at": None, "exit_code": None, "failure_reason": None, "num_nodes": nodes,
        "cpus": cluster.cpus, "gpus": json.dumps(cluster.gpu_capacity()), "driver_pid": None,
        "spec": json.dumps({"envs": {}, "task_id": f"skyhop-{cluster.name}-functions-{session}"}),
        "placement": json.dumps([{"node": r, "gpu_ids": cluster.gpu_ids} for r in range(nodes)]),
    }
    return job_env(cluster, Job(row), rank, "run")  # type: ignore[arg-type]


class _Outbox:
    """The caller's frames for one worker, bounded in bytes (one frame always fits)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: collections.deque[bytes] = collections.deque()
        self.size = 0
        self.closed = False
        self.cond = threading.Condition()

    def put(self, *parts: bytes) -> bool:
        """Queue the parts of one frame, waiting while the queue is full; False once closed."""
        size = sum(len(p) for p in parts)
        with self.cond:
            while not self.closed and self.size and self.size + size > self.limit:
                self.cond.wait()
            if self.closed:
                return False
            self.items.extend(parts)
            self.size += size
            self.cond.notify_all()
            return True

    def get(self) -> bytes | None:
        with self.cond:
            while not self.items and not self.closed:
                self.cond.wait()
            if not self.items:
                return None
            data = self.items.popleft()
            self.size -= len(data)
            self.cond.notify_all()
            return data

    def close(self) -> None:
        """No more frames; what is queued is dropped (the worker is gone, or the caller)."""
        with self.cond:
            self.closed = True
            self.items.clear()
            self.size = 0
            self.cond.notify_all()


class _Worker:
    """One node's worker process and its threads."""

    def __init__(self, rank: int, node: Node, proc: subprocess.Popen) -> None:
        self.rank = rank
        self.node = node
        self.proc = proc
        self.host = node.ip
        self.hello: dict[str, Any] | None = None
        self.started = threading.Event()  # HELLO came, or the worker ended first
        self.ended: str | None = None  # why its pipe ended, once it did
        self.outbox = _Outbox(QUEUE_BYTES)
        self.stderr = bytearray()
        self.writer: threading.Thread | None = None
        self.reader: threading.Thread | None = None
        self.stderr_reader: threading.Thread | None = None

    def stderr_tail(self) -> str:
        text = bytes(self.stderr[-STDERR_TAIL:]).decode("utf-8", "replace").strip()
        return " | ".join(line.strip() for line in text.splitlines() if line.strip())[-STDERR_TAIL:]

    def exit_reason(self) -> str:
        code = self.proc.returncode
        if code is None:
            what = "its output ended"
        elif code < 0:
            what = f"it was killed by signal {-code}"
        elif code == 255 and self.node.exec_prefix is not None:
            what = "the connection to its node ended (ssh exit code 255)"
        elif code > 128:  # a shell's (the node's bash, over ssh) way of saying its child got a signal
            what = f"it exited with code {code} (signal {code - 128})"
        else:
            what = f"it exited with code {code}"
        tail = self.stderr_tail()
        return f"{what}; its stderr ended with: {tail}" if tail else what


class Relay:
    """One session: `start` the workers, `serve` a caller's connection, `close`.

    `worker_module` is what each node runs with `python -u -m` (the daemon's verb
    always runs WORKER_MODULE; tests run a worker of their own).
    """

    def __init__(
        self, layout: Layout, cluster: Cluster, slots: int | None = None, env: dict[int, dict[str, str]] | None = None,
        *, worker_module: str = WORKER_MODULE,
    ) -> None:
        self.layout = layout
        self.cluster = cluster
        self.slots = slots
        self.env = env or {}
        self.module = worker_module
        self.session = os.urandom(6).hex()
        self.workers: list[_Worker] = []
        self.conn: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._closing = False
        self.in_flight = _InFlight(layout)
        unknown = sorted(set(self.env) - set(range(len(cluster.nodes))))
        if unknown:
            raise AgentError(f'"env" names rank {unknown[0]}, but the cluster has ranks 0..{len(cluster.nodes) - 1}.')

    # -- starting -------------------------------------------------------------

    def start(self, timeout: float = HELLO_TIMEOUT_S) -> list[dict[str, Any]]:
        """Start every node's worker and wait for their HELLOs; `[HELLO + "rank"]` in rank order.

        AgentError naming the rank, its host and the end of its stderr when one
        does not start (the others are ended then).
        """
        directory = os.path.join(self.layout.functions_dir, self.session)
        os.makedirs(self.layout.functions_dir, mode=0o700, exist_ok=True)
        os.makedirs(directory, mode=0o700)
        marker = f"SKYHOP-FN-{os.urandom(8).hex()}"
        try:
            for rank, node in enumerate(self.cluster.nodes):
                self.workers.append(self._spawn(directory, rank, node, marker))
            deadline = time.monotonic() + timeout
            for worker in self.workers:
                worker.started.wait(max(0.0, deadline - time.monotonic()))
            for worker in self.workers:
                if worker.hello is None:
                    why = worker.ended or f"it did not say hello within {timeout:g} s"
                    if worker.ended is None:
                        tail = worker.stderr_tail()
                        why += f"; its stderr so far: {tail}" if tail else ""
                    raise AgentError(f"The function worker of rank {worker.rank} ({worker.host}) did not start: {why}.")
        except BaseException:
            self.close()
            raise
        return [{**worker.hello, "rank": worker.rank} for worker in self.workers if worker.hello is not None]

    def _spawn(self, directory: str, rank: int, node: Node, marker: str) -> _Worker:
        script = os.path.join(directory, f"rank-{rank}.sh")
        write_script(script, worker_script(node, self.module, rank, self.slots, marker), data_stdin=True)
        env = {**session_env(self.cluster, self.session, rank), **self.env.get(rank, {})}
        command = node_command(node, script, env, data_stdin=True)
        proc = subprocess.Popen(
            command.argv, cwd=command.cwd, env=command.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, bufsize=0, start_new_session=node.exec_prefix is None,
        )
        worker = _Worker(rank, node, proc)
        if command.preamble:
            worker.outbox.put(command.preamble)
        worker.writer = _thread(self._write_to, worker, f"fn-write-{rank}")
        worker.stderr_reader = _thread(self._read_stderr, worker, f"fn-stderr-{rank}")
        worker.reader = _thread(functools.partial(self._read_from, marker=marker), worker, f"fn-read-{rank}")
        return worker

    # -- the worker side --------------------------------------------------------

    def _write_to(self, worker: _Worker) -> None:
        stdin = worker.proc.stdin
        assert stdin is not None
        try:
            while (data := worker.outbox.get()) is not None:
                view = memoryview(data)
                while view:  # a raw pipe write may be partial
                    view = view[stdin.write(view) or 0 :]
        except OSError:
            pass  # the worker is gone; its reader reports it
        finally:
            worker.outbox.close()
            with contextlib.suppress(OSError):
                stdin.close()

    def _read_stderr(self, worker: _Worker) -> None:
        stream = worker.proc.stderr
        assert stream is not None
        with contextlib.suppress(OSError):
            while chunk := stream.read(65536):
                worker.stderr += chunk
                del worker.stderr[: -STDERR_TAIL * 2]

    def _read_from(self, worker: _Worker, marker: str) -> None:
        assert worker.proc.stdout is not None
        stream = io.BufferedReader(worker.proc.stdout, 1 << 16)  # type: ignore[type-var]
        why = None
        try:
            if not _skip_to(stream, marker.encode(), worker):
                why = "its node's shell ended before the worker started"
            else:
                hello = fnwire.read_frame(stream)
                if hello is None or hello.kind != fnwire.HELLO:
                    why = "it ended before its HELLO" if hello is None else f"its first frame was of kind {hello.kind}, not HELLO"
                else:
                    worker.hello = _hello(hello.payload)
                    worker.host = str(worker.hello.get("host") or worker.node.ip)
                    worker.started.set()
                    while (frame := fnwire.read_frame(stream)) is not None:
                        self._from_worker(worker, frame)
        except (fnwire.FrameError, ValueError) as error:
            why = f"it sent a malformed frame ({error})"
        except OSError as error:
            why = f"its pipe broke ({error})"
        finally:
            self._ended(worker, why)

    def _ended(self, worker: _Worker, why: str | None) -> None:
        """The worker's stdout ended: reap it and tell the caller (once) that its rank is lost."""
        worker.outbox.close()
        try:
            worker.proc.wait(GRACE_S)
        except subprocess.TimeoutExpired:
            _kill(worker)
            worker.proc.wait()
        if worker.stderr_reader is not None:
            worker.stderr_reader.join(2.0)  # the end of its stderr belongs in the reason
        reason = worker.exit_reason() if why is None else f"{why}; {worker.exit_reason()}"
        with self._send_lock:  # exactly one of this and `serve` (before the caller came) tells the caller
            worker.ended = reason
            tell = self.conn is not None
        self.in_flight.lost(worker.rank)
        started = worker.started.is_set()
        worker.started.set()
        if started and tell and not self._closing:
            self._lost(worker, 0)

    def _from_worker(self, worker: _Worker, frame: Frame) -> None:
        if frame.kind in (fnwire.RESULT, fnwire.ERROR):
            self.in_flight.done(worker.rank, frame.call_id)
        self._send(fnwire.HEADER.pack(len(frame.payload), frame.kind, worker.rank, frame.call_id), frame.payload)

    # -- the caller side ----------------------------------------------------------

    def serve(self, conn: socket.socket) -> None:
        """Route the caller's frames until it hangs up (or breaks the format); `close` afterwards."""
        with self._send_lock:
            self.conn = conn
            gone = [worker for worker in self.workers if worker.ended is not None]
        for worker in gone:  # ended between its HELLO and now, when there was no one to tell
            self._lost(worker, 0)
        stream = conn.makefile("rb")
        try:
            while (frame := fnwire.read_frame(stream)) is not None:
                self._to_worker(frame)
        except (fnwire.FrameError, OSError):
            pass  # a caller that breaks the format or the connection ends its session
        finally:
            stream.close()

    def _to_worker(self, frame: Frame) -> None:
        worker = self.workers[frame.rank] if frame.rank < len(self.workers) else None
        if worker is None or worker.ended is not None:
            self._lost(worker, frame.call_id, frame.rank)
            return
        if frame.kind == fnwire.CALL:
            self.in_flight.add(frame.rank, frame.call_id)
        elif frame.kind == fnwire.CANCEL:  # the worker sends nothing more of a cancelled call
            self.in_flight.done(frame.rank, frame.call_id)
        header = fnwire.HEADER.pack(len(frame.payload), frame.kind, frame.rank, frame.call_id)
        if not worker.outbox.put(*((header, frame.payload) if frame.payload else (header,))):
            self.in_flight.lost(frame.rank)
            self._lost(worker, frame.call_id)

    def _lost(self, worker: _Worker | None, call_id: int, rank: int = 0) -> None:
        if worker is None:
            body: dict[str, Any] = {"rank": rank, "host": None, "reason": f"the cluster has no rank {rank} (ranks 0..{len(self.workers) - 1})"}
        else:
            rank = worker.rank
            body = {"rank": rank, "host": worker.host, "reason": worker.ended or "its worker is gone"}
        payload = json.dumps(body).encode()
        self._send(fnwire.HEADER.pack(len(payload), fnwire.LOST, rank, call_id), payload)

    def _send(self, header: bytes, payload: bytes) -> None:
        conn = self.conn
        if conn is None:
            return
        with self._send_lock:
            try:
                if len(payload) < 65536:
                    conn.sendall(header + payload)
                else:
                    conn.sendall(header)
                    conn.sendall(payload)
            except OSError:
                self.conn = None  # the caller is gone; `serve` sees it too

    # -- the end ------------------------------------------------------------------

    def close(self) -> None:
        """Close every worker's stdin, give them GRACE_S to exit, kill the rest; remove the session's files."""
        self._closing = True
        for worker in self.workers:
            worker.outbox.close()
        deadline = time.monotonic() + GRACE_S
        for worker in self.workers:
            try:
                worker.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill(worker)
        for worker in self.workers:
            for thread in (worker.writer, worker.reader, worker.stderr_reader):
                if thread is not None:
                    thread.join(GRACE_S)
        self.in_flight.close()
        shutil.rmtree(os.path.join(self.layout.functions_dir, self.session), ignore_errors=True)


def _thread(target: Callable[[_Worker], None], worker: _Worker, name: str) -> threading.Thread:
    thread = threading.Thread(target=target, args=(worker,), name=name, daemon=True)
    thread.start()
    return thread


def _kill(worker: _Worker) -> None:
    """End a worker that did not exit: its whole process group on this machine, or the ssh that reaches it
    (the node's end then sees its stdin close)."""
    local = worker.node.exec_prefix is None
    proctree.kill_tree([worker.proc.pid], pgids=[worker.proc.pid] if local else [], grace=2.0)


def _skip_to(stream: BinaryIO, marker: bytes, worker: _Worker) -> bool:
    """Read up to and including `marker` (what a ~/.bashrc printed before is dropped); False at EOF."""
    seen = bytearray()
    while not seen.endswith(marker):
        byte = stream.read(1)
        if not byte:
            return False
        seen += byte
        if len(seen) > NOISE_MAX:
            del seen[: -len(marker)]
    return True


def _hello(payload: bytes) -> dict[str, Any]:
    hello = json.loads(payload)
    if not isinstance(hello, dict):
        raise ValueError("HELLO is not a JSON object")
    return hello


class _InFlight:
    """The calls a session has in flight, and the autostop hold while there are any.

    While any call runs the relay holds the followers' shared lock (as a log
    follower does: autostop waits); when the last one ends it lets go and touches
    the lock file, whose time autostop counts idleness from, so `idle_minutes` runs
    from the last call's end, not from the session's opening.
    """

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.calls: set[tuple[int, int]] = set()
        self.lock = threading.Lock()
        self.hold: Any = None

    def add(self, rank: int, call_id: int) -> None:
        from skyhop_agent import autostop

        with self.lock:
            self.calls.add((rank, call_id))
            if self.hold is None:
                self.hold = autostop.hold_while_following(self.layout)

    def done(self, rank: int, call_id: int) -> None:
        with self.lock:
            self.calls.discard((rank, call_id))
            self._release_if_idle()

    def lost(self, rank: int) -> None:
        with self.lock:
            self.calls = {call for call in self.calls if call[0] != rank}
            self._release_if_idle()

    def close(self) -> None:
        with self.lock:
            self.calls.clear()
            self._release_if_idle()

    def _release_if_idle(self) -> None:
        if self.calls or self.hold is None:
            return
        from skyhop_agent import autostop

        autostop.touch_activity(self.layout)
        self.hold.close()
        self.hold = None
