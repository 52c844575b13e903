"""A job log streamed from the agent (its channel, or a process) to an HTTP client, in bounded chunks."""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, AsyncIterator

if TYPE_CHECKING:
    from skyhop.execution.agent import LogStream

CHUNK = 65536
POLL_S = 0.02


async def pipe(stream: LogStream) -> AsyncIterator[bytes]:
    """The log's bytes, read without blocking a thread; the agent's end closes with the stream.

    Chunks are at most `CHUNK` bytes whatever the output looks like (a
    progress bar without newlines included), so memory stays flat. Starlette
    closes this generator when the client disconnects, which closes the
    connection (or ends the agent process) that was following the log for it.
    """
    fd = stream.fileno()
    os.set_blocking(fd, False)
    try:
        while True:
            try:
                data = os.read(fd, CHUNK)
            except BlockingIOError:
                await asyncio.sleep(POLL_S)
                continue
            if not data:
                return
            yield data
    finally:
        stream.close()
