"""The LB's Prometheus metrics on a unix socket in its service directory: `GET /metrics` on `DIR/lb-metrics.sock`.

Why a socket in DIR and not a path on the public port: any path there could be one of the user's
own routes, and the public port faces the internet while per-replica counts are the operator's
business; DIR is 0700, so the socket is as private as the rest of the service's files. Scrape it with
`curl --unix-socket DIR/lb-metrics.sock http://lb/metrics` (the API server can re-export it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from pathlib import Path

METRICS_SOCKET = "lb-metrics.sock"
_MAX_HEAD = 8192
_READ_TIMEOUT_SECONDS = 5.0


async def serve_metrics(directory: Path, render: Callable[[], str]) -> asyncio.AbstractServer:
    """Listen on DIR/lb-metrics.sock (mode 0600); each connection gets one answer and is closed."""
    path = directory / METRICS_SOCKET
    with contextlib.suppress(FileNotFoundError):
        path.unlink()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_TIMEOUT_SECONDS)
            target = head.split(b"\r\n", 1)[0].split(b" ")
            if len(target) == 3 and target[0] in (b"GET", b"HEAD") and target[1].split(b"?")[0] == b"/metrics":
                status, kind, body = b"200 OK", b"text/plain; version=0.0.4; charset=utf-8", render().encode()
            else:
                status, kind, body = b"404 Not Found", b"text/plain; charset=utf-8", b"only GET /metrics is served here\n"
            writer.write(b"HTTP/1.1 %s\r\ncontent-type: %s\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % (status, kind, len(body)))
            if target[0] != b"HEAD":
                writer.write(body)
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    old_umask = os.umask(0o177)
    try:
        return await asyncio.start_unix_server(answer, path=socket_path(directory), limit=_MAX_HEAD)
    finally:
        os.umask(old_umask)


#: A unix socket's path must fit in sockaddr_un (108 bytes with its NUL on Linux); a service folder under a deep
#: SKYHOP_HOME (or a test's tmp_path) is longer. Such a path is reached through the folder's descriptor instead.
_SUN_PATH_MAX = 107
_FOLDERS: dict[str, int] = {}


def socket_path(directory: Path) -> str:
    """The path to bind or connect to for DIR/lb-metrics.sock: itself when short enough, else the same file
    through `/proc/self/fd/N/` of an open descriptor of DIR (kept open for the process's life)."""
    path = str(directory / METRICS_SOCKET)
    if len(path.encode()) <= _SUN_PATH_MAX:
        return path
    key = str(directory)
    if key not in _FOLDERS:
        _FOLDERS[key] = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    return f"/proc/self/fd/{_FOLDERS[key]}/{METRICS_SOCKET}"
