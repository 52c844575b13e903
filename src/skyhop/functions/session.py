"""The caller's end of a functions session: one connection to the cluster's head, frames both ways.

`open_session` asks the API server where the cluster's agent socket is on this
machine (server/services/functions.py), connects to it and sends the `functions`
verb; the head's relay (skyhop_agent/fnrelay.py) starts a worker on every node
and answers with their HELLOs. From then on `send` writes frames
(skyhop_agent/fnwire.py) and a reader thread hands each arriving frame to the
handler registered for its call id, output to `on_output`, and a lost node
(its LOST frame, or the end of the connection for every node at once) to
`on_lost`. The frames' payloads are the caller's business: nothing is pickled here.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable

from skyhop.errors import SkyhopError
from skyhop.functions.errors import NodeLost
from skyhop_agent import fnwire
from skyhop_agent.fnwire import Frame

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
#: How long the head may take to start every node's worker (a ~/.bashrc that activates conda, an ssh per node).
OPEN_TIMEOUT_S = 180.0
_LINE_MAX = 16 * 1024 * 1024
_CALL_IDS = (1 << 32) - 1
_COPY_MAX = 1 << 16


@dataclass(frozen=True)
class WorkerInfo:
    """A node's worker as its HELLO described it."""

    rank: int
    host: str
    python: tuple[int, int, int]
    cloudpickle: str | None
    pid: int
    cpus: int
    slots: int

    @classmethod
    def from_hello(cls, hello: dict[str, Any]) -> WorkerInfo:
        major, minor, micro = (int(part) for part in hello["python"])
        cloudpickle = hello.get("cloudpickle")
        return cls(int(hello["rank"]), str(hello.get("host") or ""), (major, minor, micro), None if cloudpickle is None else str(cloudpickle),
                   int(hello["pid"]), int(hello.get("cpus") or 1), int(hello.get("slots") or 1))


def _ignore_output(rank: int, stream: int, data: bytes) -> None:
    pass


def _ignore_lost(rank: int, reason: str) -> None:
    pass


class Session:
    """One open session; thread-safe. Build it with `open_session`."""

    def __init__(self, cluster: str, sock: socket.socket, stream: BinaryIO, workers: tuple[WorkerInfo, ...]) -> None:
        self.cluster = cluster
        self.workers = workers
        #: (rank, fnwire.STDOUT | fnwire.STDERR, bytes) of what functions printed; called on the reader thread.
        self.on_output: Callable[[int, int, bytes], None] = _ignore_output
        #: (rank, reason) once per lost node; called on the reader thread.
        self.on_lost: Callable[[int, str], None] = _ignore_lost
        self._sock = sock
        self._stream = stream
        self._send_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._handlers: dict[int, Callable[[Frame], None]] = {}
        self._lost: dict[int, tuple[str | None, str]] = {}  # rank -> (host, reason)
        self._call_id = 0
        self._closed = False
        self._cut: str | None = None
        self._reader = threading.Thread(target=self._read, name=f"skyhop-session-{cluster}", daemon=True)
        self._reader.start()

    def next_call_id(self) -> int:
        """A call id not used before in this session (never 0: that is the id of frames of no call)."""
        with self._state_lock:
            self._call_id = self._call_id % _CALL_IDS + 1
            return self._call_id

    def send(self, kind: int, rank: int, call_id: int, payload: bytes = b"") -> None:
        """Write one frame to the worker of `rank`; NodeLost when that rank is gone."""
        lost = self._lost_rank(rank)
        if lost is not None:
            raise lost
        if len(payload) < _COPY_MAX:
            parts = [fnwire.encode(Frame(kind, rank, call_id, payload))]
        else:  # a large payload goes after its header rather than copied behind it
            if len(payload) > fnwire.MAX_PAYLOAD:
                raise fnwire.FrameError(f"a frame payload of {len(payload)} bytes is over the {fnwire.MAX_PAYLOAD}-byte limit")
            fnwire.encode(Frame(kind, rank, call_id))  # the kind's check
            parts = [fnwire.HEADER.pack(len(payload), kind, rank, call_id), payload]
        try:
            with self._send_lock:
                for part in parts:
                    self._sock.sendall(part)
        except OSError as error:
            self._connection_ended(f"the connection to the head of '{self.cluster}' broke ({error})")
            lost = self._lost_rank(rank)
            raise lost or NodeLost(rank, None, f"the connection to the head of '{self.cluster}' broke ({error})") from None
        except BaseException:
            # Interrupted inside a frame (Ctrl-C during a large send): the head would read whatever comes next
            # as the rest of that frame, and every later call would hang. End the connection instead: every
            # node is lost, and a new session (pool.close(), then open) starts clean.
            self._cut = f"a send to the head of '{self.cluster}' was interrupted mid-frame, so the session was ended"
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            raise

    def register(self, call_id: int, handler: Callable[[Frame], None]) -> None:
        """Frames of call `call_id` go to `handler`, on the reader thread, until `unregister`.

        The handler must not block: every frame of the session waits for it (hand the frame to a queue or a future).
        """
        with self._state_lock:
            self._handlers[call_id] = handler

    def unregister(self, call_id: int) -> None:
        with self._state_lock:
            self._handlers.pop(call_id, None)

    def ping(self, rank: int, timeout: float = 10.0) -> float:
        """Seconds a PING takes to the worker of `rank` and back; NodeLost if it is gone, TimeoutError if no PONG came."""
        import time

        answered = threading.Event()
        call_id = self.next_call_id()
        self.register(call_id, lambda frame: answered.set())
        try:
            started = time.perf_counter()
            self.send(fnwire.PING, rank, call_id)
            if not answered.wait(timeout):
                raise TimeoutError(f"no PONG from rank {rank} within {timeout:g} s")
            lost = self._lost_rank(rank)
            if lost is not None:
                raise lost
            return time.perf_counter() - started
        finally:
            self.unregister(call_id)

    def close(self) -> None:
        """End the session: the workers see their stdin close and exit. Idempotent."""
        with self._state_lock:
            if self._closed:
                return
            self._closed = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        if self._reader is not threading.current_thread():
            self._reader.join(10)
        if not self._reader.is_alive():  # (the reader may be the caller: a callback closed the session)
            self._stream.close()  # the socket's fd is freed only once its makefile() reader is closed too

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the reader thread ----------------------------------------------------------

    def _lost_rank(self, rank: int) -> NodeLost | None:
        with self._state_lock:
            if rank in self._lost:
                host, reason = self._lost[rank]
                return NodeLost(rank, host, reason)
            if not any(worker.rank == rank for worker in self.workers):
                return NodeLost(rank, None, f"the pool has no node of rank {rank}")
        return None

    def _read(self) -> None:
        why = (f"the connection to the head of '{self.cluster}' ended (the cluster was stopped or taken down: by its "
               "autostop after idle_minutes without calls, by `skyhop stop`/`down`, or its head was lost)")
        try:
            while (frame := fnwire.read_frame(self._stream)) is not None:
                self._dispatch(frame)
        except fnwire.FrameError as error:
            why = f"the head of '{self.cluster}' sent a broken frame ({error})"
        except OSError as error:
            why = f"the connection to the head of '{self.cluster}' broke ({error})"
        self._connection_ended(self._cut or why)

    def _dispatch(self, frame: Frame) -> None:
        if frame.kind == fnwire.OUT:
            if frame.payload:
                self._call(self.on_output, frame.rank, frame.payload[0], frame.payload[1:])
            return
        if frame.kind == fnwire.LOST:
            try:
                body = json.loads(frame.payload)
                rank, host, reason = int(body["rank"]), body.get("host"), str(body["reason"])
            except (ValueError, KeyError, TypeError):
                rank, host, reason = frame.rank, None, "its worker is gone"
            self._rank_lost(rank, host, reason)
        with self._state_lock:
            handler = self._handlers.get(frame.call_id) if frame.call_id else None
        if handler is not None:
            self._call(handler, frame)

    def _rank_lost(self, rank: int, host: str | None, reason: str) -> None:
        with self._state_lock:
            if rank in self._lost or not any(worker.rank == rank for worker in self.workers):
                return
            self._lost[rank] = (host, reason)
            self.workers = tuple(worker for worker in self.workers if worker.rank != rank)
        self._call(self.on_lost, rank, reason)

    def _connection_ended(self, why: str) -> None:
        if self._closed:  # our own close: nothing was lost
            with self._state_lock:
                self._lost.update({worker.rank: (worker.host, "the session was closed") for worker in self.workers})
                self.workers = ()
            return
        for worker in self.workers:
            self._rank_lost(worker.rank, worker.host, why)

    def _call(self, callback: Callable[..., None], *args: Any) -> None:
        try:
            callback(*args)
        except Exception:  # a callback's bug must not end the reader (every other call would hang)
            log.exception("a functions session callback failed")


def open_session(cluster: str, *, slots: int | None = None, env: dict[int, dict[str, str]] | None = None) -> Session:
    """Start a worker on every node of `cluster` (an UP cluster of the caller's) and connect to them.

    `slots`: calls each worker runs at once (None: the worker's default). `env`: variables for the
    workers of some ranks, on top of the job variables every node gets (SKYPILOT_NODE_RANK, ...).
    """
    from skyhop.client import api

    where = api.functions_socket(cluster)
    try:
        sock = _connect(where["socket"])
    except OSError:
        where = api.functions_socket(cluster, renew=True)  # a forward that went stale with its SSH connection
        try:
            sock = _connect(where["socket"])
        except OSError as error:
            raise SkyhopError(f"Could not reach the node agent of '{cluster}' at {where['socket']}: {error}.") from None
    return attach(cluster, sock, slots=slots, env=env)


def attach(cluster: str, sock: socket.socket, *, slots: int | None = None, env: dict[int, dict[str, str]] | None = None) -> Session:
    """The session over `sock`, a fresh connection to the agent socket of `cluster` (its greeting not read yet)."""
    request = json.dumps({"slots": slots, "env": {str(rank): dict(variables) for rank, variables in (env or {}).items()}})
    stream: BinaryIO | None = None
    try:
        sock.settimeout(CONNECT_TIMEOUT_S)
        stream = sock.makefile("rb")
        _greeted(cluster, stream)
        sock.sendall(json.dumps({"verb": "functions", "args": [], "input": request}).encode() + b"\n")
        sock.settimeout(OPEN_TIMEOUT_S)
        workers = _header(cluster, stream)
        sock.settimeout(None)
    except BaseException as error:
        if stream is not None:
            stream.close()
        sock.close()
        if isinstance(error, OSError):
            raise SkyhopError(f"The connection to the node agent of '{cluster}' broke while its workers started: {error}.") from None
        raise
    return Session(cluster, sock, stream, workers)


def _connect(path: str) -> socket.socket:
    from skyhop_agent.channel import connect

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(CONNECT_TIMEOUT_S)
    try:
        connect(sock, path)
    except OSError:
        sock.close()
        raise
    return sock


def _line(cluster: str, stream: BinaryIO) -> Any:
    line = stream.readline(_LINE_MAX)
    if not line.endswith(b"\n"):
        raise SkyhopError(f"The node agent of '{cluster}' closed the connection before it answered (is its daemon running? `skyhop status --refresh {cluster}`).")
    try:
        return json.loads(line)
    except ValueError:
        raise SkyhopError(f"The node agent of '{cluster}' answered something that is not JSON: {line[:200]!r}.") from None


def _greeted(cluster: str, stream: BinaryIO) -> None:
    from skyhop_agent.channel import PROTOCOL

    hello = _line(cluster, stream)
    if isinstance(hello, dict) and "error" in hello:
        raise SkyhopError(f"The node agent of '{cluster}' refused the connection: {hello['error']}")
    if not isinstance(hello, dict) or hello.get("protocol") != PROTOCOL:
        raise SkyhopError(f"The node agent of '{cluster}' greeted with {str(hello)[:200]}, not protocol {PROTOCOL}.")


def _header(cluster: str, stream: BinaryIO) -> tuple[WorkerInfo, ...]:
    answer = _line(cluster, stream)
    if isinstance(answer, dict) and isinstance(answer.get("error"), str):
        error = answer["error"]
        if error.startswith("Unknown verb 'functions'"):
            raise SkyhopError(
                f"The node agent on '{cluster}' is older than this skyhop and cannot run functions. "
                f"Update it by restarting the cluster (`skyhop stop {cluster}` then `skyhop start {cluster}`) or by launching it again."
            )
        raise SkyhopError(f"Could not start the function workers on '{cluster}': {error}")
    try:
        return tuple(sorted((WorkerInfo.from_hello(hello) for hello in answer["ok"]["workers"]), key=lambda w: w.rank))
    except (TypeError, KeyError, ValueError):
        raise SkyhopError(f"The node agent of '{cluster}' answered the functions verb with an unknown shape: {str(answer)[:200]}.") from None
