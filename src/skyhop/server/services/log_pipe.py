"""Logs streamed to an HTTP client in bounded chunks: a job log from the agent (its channel, or a
process), or a file the server's controllers write, followed as `tail -f` follows it."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING, AsyncIterator, Callable

if TYPE_CHECKING:
    from skyhop.execution.agent import LogStream

CHUNK = 65536
#: A file is read in bigger pieces: it is all there already, only the HTTP client's pace limits it.
FILE_CHUNK = 1 << 20
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


async def follow_file(path: Path, ended: Callable[[], bool], *, follow: bool, poll_s: float) -> AsyncIterator[bytes]:
    """The file's bytes from its start; with `follow`, then what is appended until `ended()` (called in a
    thread: it may read the state store) says its writer is done, and the file has no more.

    A file that does not exist yet reads as empty (its controller has not written it): a follower waits
    for it. `ended` is asked before each read, so what the writer wrote before it ended is all shown.
    """
    offset = 0
    while True:
        done = not follow or await asyncio.to_thread(ended)
        data = await asyncio.to_thread(_read_from, path, offset)
        if data:
            offset += len(data)
            yield data
            continue  # there may be more already: read on before waiting
        if done:
            return
        await asyncio.sleep(poll_s)


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(FILE_CHUNK)
    except FileNotFoundError:
        return b""
