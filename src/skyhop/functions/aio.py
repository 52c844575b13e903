"""asyncio forms of the pool's verbs, without a second event loop.

A single call is a `concurrent.futures.Future` the session's reader thread
resolves; `asyncio.wrap_future` awaits it. A stream or a map is a blocking
iterator; each `__anext__` runs one `next()` in the loop's default executor,
so the caller's loop never blocks and the iterator's state stays on one thread
at a time.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

_END = object()


def _step(iterator: Iterator[Any]) -> Any:
    return next(iterator, _END)


class AsyncIterator:
    """`async for` over a blocking iterator; `aclose()` closes it (a stream sends CANCEL)."""

    def __init__(self, iterator: Iterator[Any]) -> None:
        self._iterator = iterator

    def __aiter__(self) -> AsyncIterator:
        return self

    async def __anext__(self) -> Any:
        value = await asyncio.get_running_loop().run_in_executor(None, _step, self._iterator)
        if value is _END:
            raise StopAsyncIteration
        return value

    async def aclose(self) -> None:
        close = getattr(self._iterator, "close", None)
        if close is not None:
            close()
