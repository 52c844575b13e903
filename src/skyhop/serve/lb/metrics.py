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
import socket
from collections.abc import Callable
from pathlib import Path

from skyhop_agent import channel as unix_path

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

    # Bound here rather than by asyncio: a SKYHOP_HOME deep enough puts DIR/lb-metrics.sock past sun_path's
    # 108 bytes ("AF_UNIX path too long" killed the LB at every start), which `bind` reaches through DIR's fd.
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        unix_path.bind(sock, str(path))
    except OSError:
        sock.close()
        raise
    finally:
        os.umask(old_umask)
    return await asyncio.start_unix_server(answer, sock=sock, limit=_MAX_HEAD)
