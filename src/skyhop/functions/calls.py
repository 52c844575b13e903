"""The calls in flight on one session: what was sent where, and what a lost node takes with it.

`Calls` sits between the pool's verbs (run, broadcast, map, streams) and the
session (§11 of docs/plans/issue-14-functions.md). It sends each function and
large argument once per rank (PUT, keyed by digest), remembers which call is on
which rank, and when a rank is lost hands every call on it a LOST frame, so each
verb handles a loss the way it handles any other frame. `Call` is one `run`: a
`concurrent.futures.Future` the session's reader thread resolves, retried on
another node after a loss while its retries last.
"""

from __future__ import annotations

import json
import pickle
import threading
from concurrent.futures import Future, InvalidStateError
from typing import TYPE_CHECKING, Any, Protocol

from skyhop.functions import pickling
from skyhop.functions.errors import FunctionTimeout, NodeLost
from skyhop.functions.remote import add_note, rebuild
from skyhop_agent import fnwire

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from types import ModuleType

    from skyhop.functions.decorator import Function
    from skyhop.functions.session import WorkerInfo

class Session(Protocol):
    """The client end of a functions session (session.py, §11 of the plan)."""

    cluster: str

    @property
    def workers(self) -> tuple[Any, ...]: ...

    on_output: Callable[[int, int, bytes], None]
    on_lost: Callable[[int, str], None]

    def next_call_id(self) -> int: ...

    def send(self, kind: int, rank: int, call_id: int, payload: bytes = b"") -> None: ...

    def register(self, call_id: int, handler: Callable[[fnwire.Frame], None]) -> None: ...

    def unregister(self, call_id: int) -> None: ...

    def close(self) -> None: ...


def lost_frame(rank: int, call_id: int, host: str, reason: str) -> fnwire.Frame:
    return fnwire.Frame(fnwire.LOST, rank, call_id, json.dumps({"rank": rank, "host": host, "reason": reason}).encode())


def lost_reason(frame: fnwire.Frame) -> str:
    try:
        return str(json.loads(frame.payload)["reason"])
    except (ValueError, KeyError, TypeError):
        return "its worker is gone"


def error_of(frame: fnwire.Frame, fn: Function[Any]) -> BaseException:
    """The exception an ERROR frame of a call of `fn` stands for, rebuilt (original type and remote traceback when possible)."""
    return rebuild(pickle.loads(frame.payload), frame.rank, fn.__wrapped__)


#: Credit a plain call that streams back (a function returning a generator) grants at a time: half the first grant.
CREDIT_BATCH = fnwire.INITIAL_CREDIT // 2


class Calls:
    """The session's calls in flight, by rank; the PUTs each rank has; round robin over the live ranks."""

    def __init__(self, session: Session, *, roots: Sequence[str] = (), by_value: Iterable[ModuleType | str] = ()) -> None:
        self.session = session
        self.roots = tuple(roots)
        self.by_value = tuple(by_value)
        self._lock = threading.Lock()
        self._put_lock = threading.Lock()
        self._sent: dict[int, set[bytes]] = {}
        self._flight: dict[int, dict[int, Callable[[fnwire.Frame], None]]] = {}
        self._lost: dict[int, str] = {}
        self._hosts = {worker.rank: worker.host for worker in session.workers}
        self._turn = 0
        session.on_lost = self._on_lost

    # -- ranks -------------------------------------------------------------
    def workers(self) -> list[WorkerInfo]:
        """The live workers, rank order."""
        return [worker for worker in self.session.workers if worker.rank not in self._lost]

    def host(self, rank: int) -> str:
        return self._hosts.get(rank, "?")

    def pick(self, node: int | None = None, *, avoid: int | None = None) -> int:
        """The rank for the next single call: `node` when given, else the next live rank round robin."""
        if node is not None:
            if node in self._lost:
                raise NodeLost(node, self.host(node), self._lost[node])
            if node not in self._hosts:
                raise ValueError(f"the pool has no node {node} (its ranks are {sorted(self._hosts)})")
            return node
        live = [worker.rank for worker in self.workers()]
        if avoid in live and len(live) > 1:
            live.remove(avoid)
        if not live:
            rank, reason = self.last_lost()
            raise NodeLost(rank, self.host(rank), f"{reason}; no node of the pool is left")
        with self._lock:
            self._turn += 1
            return live[self._turn % len(live)]

    def revive(self, rank: int, host: str) -> None:
        """`rank` is live again: a replacement node took it over (replace.py); it has none of the PUTs yet."""
        with self._lock:
            self._lost.pop(rank, None)
            self._sent.pop(rank, None)
            self._hosts[rank] = host

    def last_lost(self) -> tuple[int, str]:
        """`(rank, reason)` of the latest loss (for the error when no node is left)."""
        with self._lock:
            return next(reversed(self._lost.items()), (0, "the session has no workers"))

    # -- sending -----------------------------------------------------------
    def function(self, fn: Function[Any]) -> tuple[bytes, bytes]:
        """`(digest, pickle)` of a function, the caller's own modules registered by value first."""
        pickling.register_by_value(self.roots, self.by_value)
        return pickling.function_blob(fn.__wrapped__, fn.name)

    def start(self, rank: int, payload: bytes, puts: Sequence[tuple[bytes, bytes]], handler: Callable[[fnwire.Frame], None]) -> int:
        """Send one CALL (after the PUTs its rank lacks); its frames go to `handler`.

        A rank lost before or while sending gets `handler` a LOST frame, as a
        loss later would: callers handle one path. A handler calls `finish` on
        the call's last frame (RESULT, ERROR, LOST); only the first counts.
        """
        call_id = self.session.next_call_id()
        with self._lock:
            self._flight.setdefault(rank, {})[call_id] = handler
            reason = self._lost.get(rank)
        if reason is not None:
            handler(lost_frame(rank, call_id, self.host(rank), reason))
            return call_id
        self.session.register(call_id, handler)
        try:
            self._put(rank, puts)
            self.session.send(fnwire.CALL, rank, call_id, payload)
        except NodeLost as error:
            handler(lost_frame(rank, call_id, self.host(rank), error.reason))
        return call_id

    def _put(self, rank: int, puts: Sequence[tuple[bytes, bytes]]) -> None:
        # Under a lock of its own across check, send and mark: a second thread's CALL must not overtake
        # the PUT it relies on. Not `_lock`: the reader thread takes that, and must never wait on a
        # large PUT (the relay may be waiting for the reader to make room before it reads the PUT).
        with self._put_lock:
            with self._lock:
                sent = self._sent.setdefault(rank, set())
            for key, data in puts:
                if key not in sent:
                    self.session.send(fnwire.PUT, rank, 0, key + data)
                    sent.add(key)

    def finish(self, rank: int, call_id: int) -> bool:
        """Forget a call (its last frame came); False when it was already forgotten (lost, cancelled)."""
        with self._lock:
            known = self._flight.get(rank, {}).pop(call_id, None) is not None
        if known:
            self.session.unregister(call_id)
        return known

    def cancel(self, rank: int, call_id: int) -> None:
        """Stop a call on its node (a closed stream, a timeout, a map that ended early)."""
        if self.finish(rank, call_id):
            try:
                self.session.send(fnwire.CANCEL, rank, call_id)
            except NodeLost:
                pass

    def credit(self, rank: int, call_id: int, count: int) -> None:
        try:
            self.session.send(fnwire.CREDIT, rank, call_id, fnwire.CREDIT_COUNT.pack(count))
        except NodeLost:
            pass  # the LOST frame follows on the handler

    def _on_lost(self, rank: int, reason: str) -> None:
        with self._lock:
            self._lost.setdefault(rank, reason)
            self._sent.pop(rank, None)
            orphans = list(self._flight.get(rank, {}).items())
        for call_id, handler in orphans:
            handler(lost_frame(rank, call_id, self.host(rank), reason))


def call_options(fn: Function[Any]) -> dict[str, Any]:
    return {"name": fn.name, "timeout": fn.timeout}


class Call:
    """One call of `fn` on one node: a Future of its value, retried on another node after a loss.

    The reader thread resolves it. A plain function's generator result (it
    returned one) is gathered into a list.
    """

    def __init__(self, calls: Calls, fn: Function[Any], args: tuple[Any, ...], kwargs: dict[str, Any], *, retries: int) -> None:
        self.calls = calls
        self.fn = fn
        self.retries = retries
        self.future: Future[Any] = Future()
        self.rank = -1
        self.call_id = 0
        self.losses = 0
        self._yields: list[Any] = []
        self._timer: threading.Timer | None = None
        self._settled = threading.Lock()
        key, blob = calls.function(fn)
        args, kwargs, puts = pickling.large_arguments(args, kwargs, fn.name)
        self._puts = [(key, blob), *puts]
        self._payload = pickling.call_payload(key, fnwire.MODE_CALL, args, kwargs, call_options(fn), fn.name)

    def start(self, rank: int) -> Future[Any]:
        if self.fn.timeout is not None and self._timer is None:
            self._timer = threading.Timer(self.fn.timeout, self._expire)
            self._timer.daemon = True
            self._timer.start()
        self.rank = rank
        self.call_id = self.calls.start(rank, self._payload, self._puts, self)
        return self.future

    def __call__(self, frame: fnwire.Frame) -> None:
        # Frames may come before `start` returns (the reader is quick): they are matched by the
        # session's registration, and a terminal frame counts only while the call is still known.
        kind = frame.kind
        if self.future.done():
            return
        if kind == fnwire.YIELD:
            # A plain function that returned a generator: its values are collected into a list. Credit goes
            # back half a grant at a time, and not from here: this is the reader thread, and a send could wait
            # behind another thread's large PUT while nobody drains the socket.
            self._yields.append(frame.payload)
            if len(self._yields) % CREDIT_BATCH == 0:
                threading.Thread(target=self.calls.credit, args=(frame.rank, frame.call_id, CREDIT_BATCH), name="skyhop-credit", daemon=True).start()
            return
        if kind not in (fnwire.RESULT, fnwire.ERROR, fnwire.LOST) or not self.calls.finish(frame.rank, frame.call_id):
            return
        if kind == fnwire.RESULT:
            try:
                value = (
                    [pickling.loads(item, f"A value {self.fn.name} yielded") for item in self._yields]
                    if self._yields else pickling.loads(frame.payload, f"The return value of {self.fn.name}")
                )
            except BaseException as error:  # noqa: BLE001 - it is the caller's to see
                self._settle(None, error)
            else:
                self._settle(value, None)
        elif kind == fnwire.ERROR:
            self._settle(None, error_of(frame, self.fn))
        else:
            self._lost(frame.rank, lost_reason(frame))

    def _lost(self, rank: int, reason: str) -> None:
        self.losses += 1
        if self.losses > self.retries:
            spent = f" (retried {self.retries} times)" if self.retries else ""
            self._settle(None, NodeLost(rank, self.calls.host(rank), f"{reason}; {self.fn.name} was running on it{spent}"))
            return
        self._yields = []

        def again() -> None:  # not on the reader thread: sending there could wait on the reader itself
            try:
                self.start(self.calls.pick(avoid=rank))
            except BaseException as error:  # noqa: BLE001
                self._settle(None, error)

        threading.Thread(target=again, name="skyhop-call-retry", daemon=True).start()

    def _expire(self) -> None:
        if self.future.done():
            return
        self.calls.cancel(self.rank, self.call_id)
        self._settle(None, FunctionTimeout(
            f"{self.fn.name} ran past its timeout of {self.fn.timeout:g} s on node {self.rank} ({self.calls.host(self.rank)}) and was cancelled there."
        ))

    def _settle(self, value: Any, error: BaseException | None) -> None:
        with self._settled:
            if self.future.done():
                return
            if self._timer is not None:
                self._timer.cancel()
            try:
                if error is not None:
                    self.future.set_exception(error)
                else:
                    self.future.set_result(value)
            except InvalidStateError:  # cancelled by its owner meanwhile
                pass


def wait_all(futures: Sequence[Future[Any]], ranks: Sequence[int]) -> list[Any]:
    """Every future's value in order; the first failure raised once all are done, the others' as its notes."""
    from concurrent.futures import wait

    wait(futures)
    failed = [(rank, error) for rank, error in zip(ranks, (future.exception() for future in futures)) if error is not None]
    if failed:
        first = failed[0][1]
        for rank, error in failed[1:]:
            add_note(first, f"node {rank} also failed: {type(error).__name__}: {error}")
        raise first
    return [future.result() for future in futures]
