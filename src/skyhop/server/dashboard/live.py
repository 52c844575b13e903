"""A job's live log as Server-Sent Events, from the same agent stream `GET /api/v1/clusters/{name}/logs` pipes.

One `data:` event per output line (the text after the line's last carriage
return, as a terminal would show a progress bar), numbered by `id:` so a
reconnecting browser resumes after the last line it has. The page puts each
line in with `textContent`, so a log line is never HTML. A line without an end
is cut at `LINE_MAX` bytes: memory stays bounded whatever the job prints. The
stream ends with an `end` event when the job does; one the caller may not read,
or that cannot start (a stopped cluster), is a single `failed` event.
"""

from __future__ import annotations

from typing import AsyncGenerator, AsyncIterator, cast

import anyio

from skyhop.errors import SkyhopError
from skyhop.server.auth.principal import Principal

LINE_MAX = 16 * 1024


def _event(data: str, *, kind: str | None = None, number: int | None = None) -> bytes:
    head = (f"event: {kind}\n" if kind else "") + (f"id: {number}\n" if number is not None else "")
    return (head + "".join(f"data: {part}\n" for part in data.split("\n")) + "\n").encode()


def _line(raw: bytes) -> str:
    return raw.rstrip(b"\r").rsplit(b"\r", 1)[-1].decode("utf-8", "replace")


async def events(store, principal: Principal, name: str, job_id: int, skip: int) -> AsyncIterator[bytes]:
    from skyhop.execution import lifecycle
    from skyhop.server.dashboard import views
    from skyhop.server.services.log_pipe import pipe

    def open_stream():
        views.cluster(store, principal, name)
        return lifecycle.log_stream(store, name, job_id, follow=True, tail=None)[1]

    yield b"retry: 2000\n\n"
    try:
        stream = await anyio.to_thread.run_sync(open_stream)
    except SkyhopError as error:
        yield _event(str(error), kind="failed")
        return
    number = 0
    pending = b""
    chunks = cast("AsyncGenerator[bytes, None]", pipe(stream))  # an async generator: it can be closed
    try:
        async for chunk in chunks:
            pending += chunk
            lines = pending.split(b"\n")
            pending = lines.pop()
            if len(pending) > LINE_MAX:
                lines.append(pending[:LINE_MAX])
                pending = b""
            out = []
            for raw in lines:
                number += 1
                if number > skip:
                    out.append(_event(_line(raw), number=number))
            if out:
                yield b"".join(out)
    finally:
        await chunks.aclose()  # the browser went away: end the agent's follower now, not when the generator is collected
    if pending:
        number += 1
        if number > skip:
            yield _event(_line(pending), number=number)
    yield _event("", kind="end")
