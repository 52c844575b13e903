"""A job log streamed from an agent process to an HTTP client, in bounded chunks."""

from __future__ import annotations

import asyncio
import os
import subprocess
from typing import AsyncIterator

CHUNK = 65536
POLL_S = 0.02


async def pipe(stream: subprocess.Popen[bytes]) -> AsyncIterator[bytes]:
    """A subprocess's stdout, read without blocking a thread; the process ends with the stream.

    Chunks are at most `CHUNK` bytes whatever the output looks like (a
    progress bar without newlines included), so memory stays flat. Starlette
    closes this generator when the client disconnects, which terminates the
    agent process that was following the log for it.
    """
    assert stream.stdout is not None
    fd = stream.stdout.fileno()
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
        if stream.poll() is None:
            stream.terminate()
        stream.wait()
