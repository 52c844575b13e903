"""`pool.map`: items spread over every node's slots, with back-pressure, batching and exactly-once results.

Pull scheduling: each rank has at most `2 x slots` calls out, and a new one
goes when a result comes back, so a slow node gets fewer items. Items are taken
from the caller's iterable only when there is room (an infinite generator is
fine); `window` bounds the items in flight. Tiny items travel in batches
(MODE_BATCH, one frame each way for up to MAX_BATCH items): a rank's batch
grows while a call takes less than TARGET_CALL_S, judged from its round trips.

Exactly once: each call in flight is `call id -> (rank, items)`; a result is
taken only for a call still in that table, and a loss (LOST) moves the call's
items back to the front of the queue (each item at most `retries` times, then
NodeLost naming it). A late or repeated frame of a call already settled finds
no entry and is dropped. All of this state lives on the caller's thread: the
session's reader only queues frames.
"""

from __future__ import annotations

import os
import queue
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from skyhop.functions import pickling
from skyhop.functions.calls import call_options, error_of, lost_reason
from skyhop.functions.errors import FunctionTimeout, NodeLost, NotPicklable
from skyhop.functions.remote import rebuild
from skyhop_agent import fnwire

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from skyhop.functions.calls import Calls
    from skyhop.functions.decorator import Function

MAX_BATCH = 64
#: A batch grows until one call takes about this long (latency hidden, the tail stays short).
TARGET_CALL_S = 0.01
#: Calls out per slot: one running, one waiting on the node, so a slot never idles for a round trip.
CALLS_PER_SLOT = 2
#: `SKYHOP_FUNCTIONS_BATCH=off` turns batching off (the benchmarks' baseline).
BATCH_VAR = "SKYHOP_FUNCTIONS_BATCH"


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class MapRun:
    """One `pool.map`: iterate it for the results (input order, or arrival order with `ordered=False`)."""

    def __init__(self, calls: Calls, fn: Function[Any], items: Iterable[Any], *, ordered: bool = True,
                 window: int | None = None, batch: int | None = None, retries: int = 0) -> None:
        if window is not None and window < 1:
            raise ValueError(f"window must be at least 1, not {window}")
        if batch is not None and not 1 <= batch <= 1 << 16:
            raise ValueError(f"batch must be from 1 to 65536, not {batch}")
        self.calls = calls
        self.fn = fn
        self.ordered = ordered
        self.window = window
        self.fixed_batch = 1 if batch is None and os.environ.get(BATCH_VAR, "").lower() in ("off", "0", "no") else batch
        self.retries = retries
        self.high_water = 0  # the most items ever in flight at once (tests and benchmarks read it)
        self._source = iter(items)
        self._taken = 0
        self._exhausted = False
        self._pending: deque[tuple[int, Any]] = deque()
        self._losses: dict[int, int] = {}
        self._flight: dict[int, tuple[int, list[tuple[int, Any]], float]] = {}
        self._rank_calls: dict[int, int] = {}
        self._in_flight = 0
        self._batch: dict[int, int] = {}
        self._results: dict[int, Any] = {}
        self._arrived: deque[Any] = deque()
        self._next_out = 0
        self._frames: queue.SimpleQueue[fnwire.Frame] = queue.SimpleQueue()
        self._key, self._blob = calls.function(fn)

    def __iter__(self) -> Iterator[Any]:
        try:
            while True:
                self._fill()
                yield from self._ready()
                if not self._flight:
                    return  # _fill sends whenever nothing is out and items remain (or raises NodeLost)
                self._handle(self._next_frame())
                yield from self._ready()
        finally:
            for call_id, (rank, _, _) in list(self._flight.items()):
                self.calls.cancel(rank, call_id)
            self._flight.clear()

    # -- sending -----------------------------------------------------------
    def _fill(self) -> None:
        while not (self._exhausted and not self._pending):
            rank = self._free_rank()
            if rank is None:
                return
            size = self._batch_size(rank)
            if self.window is not None:
                size = min(size, self.window - self._in_flight)
                if size <= 0:
                    return
            items = self._take(size)
            if not items:
                return
            self._send(rank, items)

    def _free_rank(self) -> int | None:
        workers = self.calls.workers()
        if not workers:
            raise self._all_lost()
        best, load = None, None
        for worker in workers:
            out = self._rank_calls.get(worker.rank, 0)
            if out < CALLS_PER_SLOT * max(1, worker.slots) and (load is None or out / max(1, worker.slots) < load):
                best, load = worker.rank, out / max(1, worker.slots)
        return best

    def _batch_size(self, rank: int) -> int:
        if self.fixed_batch is not None:
            size = self.fixed_batch
        else:
            size = self._batch.get(rank, 1)
        if self.window is not None:
            slots = sum(max(1, worker.slots) for worker in self.calls.workers())
            size = min(size, max(1, self.window // (CALLS_PER_SLOT * slots)))
        return size

    def _take(self, size: int) -> list[tuple[int, Any]]:
        items: list[tuple[int, Any]] = []
        while self._pending and len(items) < size:
            items.append(self._pending.popleft())
        while not self._exhausted and len(items) < size:
            try:
                item = next(self._source)
            except StopIteration:
                self._exhausted = True
                break
            items.append((self._taken, item))
            self._taken += 1
        return items

    def _send(self, rank: int, items: list[tuple[int, Any]]) -> None:
        if len(items) == 1:
            mode, args = fnwire.MODE_CALL, (items[0][1],)
        else:
            mode, args = fnwire.MODE_BATCH, ([item for _, item in items],)
        try:
            payload = pickling.call_payload(self._key, mode, args, {}, call_options(self.fn), self.fn.name)
        except NotPicklable:
            raise self._unpicklable(items) from None
        self._in_flight += len(items)
        self.high_water = max(self.high_water, self._in_flight)
        self._rank_calls[rank] = self._rank_calls.get(rank, 0) + 1
        # The handler only queues: frames are handled on this thread, after this entry exists.
        call_id = self.calls.start(rank, payload, [(self._key, self._blob)], self._frames.put)
        self._flight[call_id] = (rank, items, time.monotonic())

    def _unpicklable(self, items: list[tuple[int, Any]]) -> NotPicklable:
        for index, item in items:
            try:
                pickling.dumps(item)
            except Exception as error:  # noqa: BLE001
                return NotPicklable(f"Item {index} of the map over {self.fn.name} (a {type(item).__name__}) cannot be pickled "
                                    f"to send it to the pool's nodes: {type(error).__name__}: {error}")
        return NotPicklable(f"The items of the map over {self.fn.name} cannot be pickled to send them to the pool's nodes.")

    # -- receiving ---------------------------------------------------------
    def _next_frame(self) -> fnwire.Frame:
        """The next frame; FunctionTimeout when a call outlives `timeout` x its items (a batch runs them in turn)."""
        timeout = self.fn.timeout
        if timeout is None:
            return self._frames.get()
        while True:
            call_id, (rank, items, sent) = min(self._flight.items(), key=lambda entry: entry[1][2] + timeout * len(entry[1][1]))
            left = sent + timeout * len(items) - time.monotonic()
            try:
                if left <= 0:
                    raise queue.Empty
                return self._frames.get(timeout=left)
            except queue.Empty:
                if call_id in self._flight:
                    raise FunctionTimeout(
                        f"Item {items[0][0]} of the map over {self.fn.name} ran past its timeout of {timeout:g} s on node {rank} "
                        f"({self.calls.host(rank)}); the map was cancelled."
                    ) from None

    def _handle(self, frame: fnwire.Frame) -> None:
        if frame.kind not in (fnwire.RESULT, fnwire.ERROR, fnwire.LOST):
            return
        entry = self._flight.get(frame.call_id)
        if entry is None or entry[0] != frame.rank:
            return  # a call already settled (lost and requeued, or cancelled): its items are elsewhere now
        del self._flight[frame.call_id]
        rank, items, sent = entry
        self._rank_calls[rank] -= 1
        self._in_flight -= len(items)
        self.calls.finish(rank, frame.call_id)
        if frame.kind == fnwire.LOST:
            self._requeue(rank, items, lost_reason(frame))
            return
        if frame.kind == fnwire.ERROR:  # the call as a whole failed: the item raised, or the function did not load
            error = error_of(frame, self.fn)
            for index, _ in items:
                self._done(index, _Failed(error))
            return
        self._learn(rank, len(items), time.monotonic() - sent)
        if len(items) == 1:
            self._done(items[0][0], pickling.loads(frame.payload, f"The return value of {self.fn.name}"))
            return
        outcomes = pickling.loads(frame.payload, f"The return values of {self.fn.name}")
        for (index, _), (ok, value) in zip(items, outcomes):
            self._done(index, value if ok else _Failed(rebuild(value, rank, self.fn.__wrapped__)))

    def _requeue(self, rank: int, items: list[tuple[int, Any]], reason: str) -> None:
        for index, _ in items:
            self._losses[index] = self._losses.get(index, 0) + 1
            if self._losses[index] > self.retries:
                spent = f"the pool's retries ({self.retries}) are spent" if self.retries else "the pool has no retries (Pool(retries=N))"
                raise NodeLost(rank, self.calls.host(rank), f"{reason}; item {index} of the map over {self.fn.name} was on it and {spent}")
        self._pending.extendleft(reversed(items))

    def _learn(self, rank: int, count: int, seconds: float) -> None:
        """Grow or shrink the rank's batch toward calls of about TARGET_CALL_S (at most x4 per step)."""
        per_item = max(seconds / count, 1e-6)
        wanted = max(1, min(MAX_BATCH, int(TARGET_CALL_S / per_item)))
        current = self._batch.get(rank, 1)
        self._batch[rank] = max(1, min(wanted, current * 4))

    def _done(self, index: int, value: Any) -> None:
        if self.ordered:
            self._results[index] = value
        else:
            self._arrived.append(value)

    def _ready(self) -> Iterator[Any]:
        if self.ordered:
            while self._next_out in self._results:
                value = self._results.pop(self._next_out)
                self._next_out += 1
                if isinstance(value, _Failed):
                    raise value.error
                yield value
        else:
            while self._arrived:
                value = self._arrived.popleft()
                if isinstance(value, _Failed):
                    raise value.error
                yield value

    def _all_lost(self) -> NodeLost:
        rank, reason = self.calls.last_lost()
        return NodeLost(rank, self.calls.host(rank), f"{reason}; no node of the pool is left for the map over {self.fn.name}")
