"""A functions session without a cluster: §11's Session interface over an in-process worker.

`FakeSession` stands where `skyhop.functions.session.Session` stands, for the
client library's unit tests. In `auto` mode it plays the worker (fnworker's
frame semantics: PUT cache, CALL in MODE_CALL/MODE_BATCH, generators with
CREDIT and CANCEL, ERROR records) on a thread per call, and delivers frames on
one reader thread as the real session does. In manual mode it only records
what was sent, and the test answers with `reply`, `lose` and duplicates of its
own, to drive the scheduler's state machine frame by frame.
"""

from __future__ import annotations

import itertools
import pickle
import queue
import threading
import traceback
from typing import Any, Callable

import cloudpickle

from skyhop.functions.errors import NodeLost
from skyhop.functions.session import WorkerInfo
from skyhop_agent import fnwire


def error_record(error: BaseException, function: str, host: str) -> dict[str, Any]:
    try:
        blob: bytes | None = cloudpickle.dumps(error)
        pickle.loads(blob)
    except Exception:  # noqa: BLE001
        blob = None
    return {"exception": blob, "type": type(error).__qualname__, "module": type(error).__module__, "message": str(error),
            "traceback": "".join(traceback.format_exception(error)), "function": function, "host": host}


class FakeSession:
    def __init__(self, ranks: int = 2, slots: int = 2, *, auto: bool = True, python: tuple[int, int, int] | None = None,
                 pickle_version: str | None = cloudpickle.__version__) -> None:
        import sys

        version = python or tuple(sys.version_info[:3])
        self.cluster = "fake"
        self.workers: tuple[WorkerInfo, ...] = tuple(
            WorkerInfo(rank, f"host{rank}", version, pickle_version, 1000 + rank, 4, slots) for rank in range(ranks)  # type: ignore[arg-type]
        )
        self.on_output: Callable[[int, int, bytes], None] = lambda rank, stream, data: None
        self.on_lost: Callable[[int, str], None] = lambda rank, reason: None
        self.auto = auto
        self.sent: list[fnwire.Frame] = []
        self.closed = False
        self._ids = itertools.count(1)
        self._handlers: dict[int, Callable[[fnwire.Frame], None]] = {}
        self._cache: dict[int, dict[str, Any]] = {rank: {} for rank in range(ranks)}
        self._lost: set[int] = set()
        self._credit: dict[int, threading.Semaphore] = {}
        self._cancelled: set[int] = set()
        self._lock = threading.Lock()
        self._inbox: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    # -- §11 ---------------------------------------------------------------
    def next_call_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def send(self, kind: int, rank: int, call_id: int, payload: bytes = b"") -> None:
        if rank in self._lost:
            raise NodeLost(rank, f"host{rank}", "gone")
        with self._lock:
            self.sent.append(fnwire.Frame(kind, rank, call_id, payload))
        if kind == fnwire.PUT:
            self._cache[rank][payload[: fnwire.DIGEST_SIZE].hex()] = pickle.loads(payload[fnwire.DIGEST_SIZE :])
        elif kind == fnwire.CALL and self.auto:
            self._credit[call_id] = threading.Semaphore(fnwire.INITIAL_CREDIT)
            threading.Thread(target=self._run, args=(rank, call_id, payload), daemon=True).start()
        elif kind == fnwire.CREDIT:
            (count,) = fnwire.CREDIT_COUNT.unpack(payload)
            semaphore = self._credit.get(call_id)
            if semaphore is not None:
                semaphore.release(count)
        elif kind == fnwire.CANCEL:
            self._cancelled.add(call_id)
            semaphore = self._credit.get(call_id)
            if semaphore is not None:
                semaphore.release(1)

    def register(self, call_id: int, handler: Callable[[fnwire.Frame], None]) -> None:
        self._handlers[call_id] = handler

    def unregister(self, call_id: int) -> None:
        self._handlers.pop(call_id, None)

    def close(self) -> None:
        self.closed = True
        self._inbox.put(None)

    # -- the test's hand ---------------------------------------------------
    def reply(self, kind: int, rank: int, call_id: int, payload: bytes = b"") -> None:
        """Deliver a frame as the worker `rank` would (on the reader thread)."""
        frame = fnwire.Frame(kind, rank, call_id, payload)

        def deliver() -> None:
            handler = self._handlers.get(call_id)
            if handler is not None:
                handler(frame)

        self._inbox.put(deliver)

    def output(self, rank: int, stream: int, data: bytes) -> None:
        self._inbox.put(lambda: self.on_output(rank, stream, data))

    def lose(self, rank: int, reason: str = "preempted") -> None:
        """The rank's worker is gone: on_lost on the reader thread, and the rank leaves `workers`."""
        self._lost.add(rank)
        self.workers = tuple(worker for worker in self.workers if worker.rank != rank)
        self._inbox.put(lambda: self.on_lost(rank, reason))

    def calls(self, rank: int | None = None) -> list[fnwire.Frame]:
        with self._lock:
            return [f for f in self.sent if f.kind == fnwire.CALL and (rank is None or f.rank == rank)]

    def kinds(self, kind: int) -> list[fnwire.Frame]:
        with self._lock:
            return [f for f in self.sent if f.kind == kind]

    def drain(self) -> None:
        """Wait until every frame queued so far was delivered."""
        done = threading.Event()
        self._inbox.put(done.set)
        done.wait(10)

    def _read(self) -> None:
        while True:
            job = self._inbox.get()
            if job is None:
                return
            job()

    # -- the worker it plays ----------------------------------------------
    def _run(self, rank: int, call_id: int, payload: bytes) -> None:
        digest, mode, args, kwargs, opts = pickle.loads(payload)
        cache = self._cache[rank]
        fn = cache[digest]
        args = tuple(cache[a.digest] if isinstance(a, fnwire.Cached) else a for a in args)
        kwargs = {k: cache[v.digest] if isinstance(v, fnwire.Cached) else v for k, v in kwargs.items()}
        host = f"host{rank}"
        try:
            if mode == fnwire.MODE_BATCH:
                outcomes = []
                for item in args[0]:
                    try:
                        outcomes.append((True, fn(item)))
                    except Exception as error:  # noqa: BLE001
                        outcomes.append((False, error_record(error, opts["name"], host)))
                self.reply(fnwire.RESULT, rank, call_id, cloudpickle.dumps(outcomes))
                return
            value = fn(*args, **kwargs)
            if hasattr(value, "__next__"):
                for item in value:
                    self._credit[call_id].acquire()
                    if call_id in self._cancelled:
                        value.close()
                        return
                    self.reply(fnwire.YIELD, rank, call_id, cloudpickle.dumps(item))
                value = None
            try:
                data = cloudpickle.dumps(value)
            except Exception as error:  # noqa: BLE001
                raise pickle.PicklingError(f"the return value of {opts['name']} (a {type(value)}) cannot be pickled: {error}") from None
            self.reply(fnwire.RESULT, rank, call_id, data)
        except Exception as error:  # noqa: BLE001
            self.reply(fnwire.ERROR, rank, call_id, pickle.dumps(error_record(error, opts["name"], host)))
