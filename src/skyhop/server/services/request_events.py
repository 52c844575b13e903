"""Streaming a request's event log to a client while the request runs.

A follower polls only what changes: the log file grows (a read that returns
nothing is the cheap check), and whether the request still runs is asked of
this server's executor (a dict lookup); the database is read once at the end
for the final record (and once a second for a request that another server
process runs). The log is read in bounded chunks, so a request that wrote
megabytes without a newline never sits whole in memory.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, AsyncIterator

CHUNK = 65536
POLL_S = 0.05
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
    with Path(record.log_path).open("rb") as f:
        while True:
            chunk = f.read(CHUNK)
            if chunk:
                yield chunk
                continue
            if follow and executor.is_active(request_id):
                await asyncio.sleep(POLL_S)
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
