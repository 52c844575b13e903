"""Streaming a request's event log to a client while the request runs.

A follower of a request that runs in this process sleeps until the request
writes an event or ends (`Executor.listen`), so output reaches the client at
once and an idle follower costs nothing; whether the request still runs is
asked of the executor (a dict lookup), and the database is read once at the
end for the final record (and once a second for a request that another
server process runs). The log is read in bounded chunks, so a request that wrote
megabytes without a newline never sits whole in memory.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, AsyncIterator

CHUNK = 65536
#: The longest a follower sleeps without being woken (a backstop: every event wakes it).
WAKE_BACKSTOP_S = 1.0
#: How often a request that runs in another server process (team mode) is looked up.
DB_POLL_S = 1.0
ACTIVE = ("PENDING", "RUNNING")


async def follow(store: Any, executor: Any, record: Any, follow: bool) -> AsyncIterator[bytes]:
    """The request's event log as it grows, then `{"done": record}` once it ended.

    Async, sleeping between polls: a follower costs the server nothing while
    it waits (a blocking generator would hold a worker thread per follower,
    and enough followers would starve every other route).
    """
    request_id = record.request_id
    loop = asyncio.get_running_loop()
    woken = asyncio.Event()

    def wake() -> None:  # called from the request's thread
        try:
            loop.call_soon_threadsafe(woken.set)
        except RuntimeError:
            pass  # the loop has closed: nobody is waiting any more

    stop_listening = executor.listen(request_id, wake) if follow else None
    try:
        with Path(record.log_path).open("rb") as f:
            async for part in _stream(f, store, executor, request_id, follow, woken):
                yield part
    finally:
        if stop_listening is not None:
            stop_listening()


async def _stream(f: Any, store: Any, executor: Any, request_id: str, follow: bool, woken: asyncio.Event) -> AsyncIterator[bytes]:
    while True:
        woken.clear()  # before the read: an event written after it sets it again, so none is missed
        chunk = f.read(CHUNK)
        if chunk:
            yield chunk
            continue
        if follow and executor.is_active(request_id):
            try:
                await asyncio.wait_for(woken.wait(), WAKE_BACKSTOP_S)
            except asyncio.TimeoutError:
                pass
            continue
        # The executor records the outcome before it lets go of a request: this read is final here.
        current = store.get_request(request_id)
        if follow and current.status in ACTIVE:
            await asyncio.sleep(DB_POLL_S)
            continue
        for rest in iter(lambda: f.read(CHUNK), b""):
            yield rest
        yield (json.dumps({"done": asdict(current)}) + "\n").encode()
        return
