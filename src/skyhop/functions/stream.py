"""A generator function run on a node: its yields, here, as they are produced.

The worker sends one YIELD per value; this side grants CREDIT as the caller
consumes (the worker starts with `fnwire.INITIAL_CREDIT`, and we top it up by
half that each time half is used), so a fast producer and a slow consumer hold
at most that many values between them. Closing the stream (`close()`, a `break`
out of the `for`, the object collected) sends CANCEL: the node closes the
generator and its `finally:` blocks run there. A lost node raises NodeLost
with the count of values that had arrived; a generator is never retried (it
may not be replayable).
"""

from __future__ import annotations

import queue
import time
from typing import TYPE_CHECKING, Any

from skyhop.functions import pickling
from skyhop.functions.calls import call_options, error_of, lost_reason
from skyhop.functions.errors import FunctionTimeout, NodeLost
from skyhop_agent import fnwire

if TYPE_CHECKING:
    from types import TracebackType

    from skyhop.functions.calls import Calls
    from skyhop.functions.decorator import Function

#: Credit given back at a time: half the initial grant, so the producer rarely waits.
TOP_UP = fnwire.INITIAL_CREDIT // 2


class RemoteGenerator:
    """The local end of a generator running on a node; an iterator (and a context manager that closes it)."""

    def __init__(self, calls: Calls, fn: Function[Any], args: tuple[Any, ...], kwargs: dict[str, Any], rank: int) -> None:
        self.calls = calls
        self.fn = fn
        self.rank = rank
        self.delivered = 0
        self._frames: queue.SimpleQueue[fnwire.Frame] = queue.SimpleQueue()
        self._taken = 0
        self._done = False
        self._deadline = None if fn.timeout is None else time.monotonic() + fn.timeout
        key, blob = calls.function(fn)
        args, kwargs, puts = pickling.large_arguments(args, kwargs, fn.name)
        payload = pickling.call_payload(key, fnwire.MODE_CALL, args, kwargs, call_options(fn), fn.name)
        self.call_id = calls.start(rank, payload, [(key, blob), *puts], self._frames.put)

    def __iter__(self) -> RemoteGenerator:
        return self

    def __next__(self) -> Any:
        if self._done:
            raise StopIteration
        frame = self._next_frame()
        if frame.kind == fnwire.YIELD:
            self.delivered += 1
            self._taken += 1
            if self._taken >= TOP_UP:
                self.calls.credit(self.rank, self.call_id, self._taken)
                self._taken = 0
            return pickling.loads(frame.payload, f"A value {self.fn.name} yielded")
        self._done = True
        self.calls.finish(self.rank, self.call_id)
        if frame.kind == fnwire.RESULT:
            raise StopIteration
        if frame.kind == fnwire.ERROR:
            raise error_of(frame, self.fn)
        raise NodeLost(self.rank, self.calls.host(self.rank),
                       f"{lost_reason(frame)}; {self.delivered} values of {self.fn.name} had arrived (a generator is not retried)")

    def _next_frame(self) -> fnwire.Frame:
        while True:
            if self._deadline is None:
                frame = self._frames.get()
            else:
                try:
                    left = self._deadline - time.monotonic()
                    if left <= 0:  # checked first: a producer that never pauses must time out too
                        raise queue.Empty
                    frame = self._frames.get(timeout=left)
                except queue.Empty:
                    self.close()
                    raise FunctionTimeout(
                        f"{self.fn.name} ran past its timeout of {self.fn.timeout:g} s on node {self.rank} "
                        f"({self.calls.host(self.rank)}) after {self.delivered} values and was cancelled there."
                    ) from None
            if frame.kind in (fnwire.YIELD, fnwire.RESULT, fnwire.ERROR, fnwire.LOST):
                return frame

    def close(self) -> None:
        """Stop the generator on the node (idempotent)."""
        if not self._done:
            self._done = True
            self.calls.cancel(self.rank, self.call_id)

    def __enter__(self) -> RemoteGenerator:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110 - a collected stream on a closed session: nothing to stop
            pass

    def __repr__(self) -> str:
        return f"<remote generator {self.fn.name} on node {self.rank}: {self.delivered} values so far>"
