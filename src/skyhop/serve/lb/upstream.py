"""Connections to replicas: one asyncio Protocol per keep-alive connection, pooled per replica URL.

Why a Protocol with callbacks and no streams: the response is parsed by httptools as bytes arrive and
each body piece is handed to the client side in the same callback, so a streamed token leaves the LB
in the loop iteration it arrived in, with no task switch and no copy into a reader buffer. Reusing
connections matters: a fresh TCP connect per request cost ~40% of the throughput in the spike.
"""

from __future__ import annotations

import asyncio
import enum
from typing import Protocol, cast
from urllib.parse import urlsplit

import httptools

from skyhop.serve.lb.wire import Headers

CONNECT_TIMEOUT_SECONDS = 5.0
MAX_IDLE_PER_REPLICA = 256


class Body(enum.Enum):
    """How a response body is delimited on the replica's side (decides the framing towards the client)."""

    NONE = "none"  # HEAD, 204, 304
    LENGTH = "length"  # Content-Length
    CHUNKED = "chunked"  # Transfer-Encoding: chunked
    UNTIL_CLOSE = "until_close"  # neither: the body ends when the replica closes


class ResponseSink(Protocol):
    """Where an upstream connection delivers one response (the client side of one exchange)."""

    def response_head(self, status: int, reason: bytes, headers: Headers, body: Body) -> None: ...
    def response_body(self, data: bytes) -> None: ...
    def response_end(self) -> None: ...
    def upstream_failed(self) -> None: ...
    def flush(self) -> None: ...


class UpstreamConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection to a replica; carries one exchange at a time."""

    def __init__(self, pool: ReplicaPool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.sink: ResponseSink | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._head_only = False
        self._reason = b""
        self._headers: Headers = []
        self._body = Body.NONE
        self._head_done = False
        self._informational = False

    # -- used by the proxy ------------------------------------------------------------------------

    def send(self, data: bytes, sink: ResponseSink, head_only: bool) -> None:
        """Write one whole request; the response goes to `sink`. `head_only`: it answers a HEAD (no body follows)."""
        assert self.transport is not None
        self.sink = sink
        self._head_only = head_only
        self._head_done = False
        self.transport.write(data)

    def abort(self) -> None:
        """Drop the connection now (the client left mid-exchange): it is never pooled again."""
        self.sink = None
        if self.transport is not None:
            self.transport.abort()

    def pause_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def usable(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    # -- asyncio.Protocol -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.sink is None:
            # Bytes while idle: the replica broke HTTP; never reuse this connection.
            self.abort()
            return
        sink = self.sink
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail()
        # What one read delivered leaves in one write (an event stream's pieces are not held back).
        sink.flush()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool.forget(self)
        sink, self.sink = self.sink, None
        if sink is None:
            return
        if self._head_done and self._body is Body.UNTIL_CLOSE:
            sink.response_end()
        else:
            sink.upstream_failed()

    # -- httptools callbacks ----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._reason = b""
        self._headers = []

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        # 1xx (103 Early Hints, a stray 100) precede the real answer; 101 is refused before sending (no upgrades).
        self._informational = status < 200
        if self._informational or self.sink is None:
            return
        self._body = self._body_kind(status)
        self._head_done = True
        self.sink.response_head(status, self._reason, self._headers, self._body)
        if self._head_only:
            # llhttp cannot be told the request was HEAD; a fresh parser reads the next response.
            self._parser = httptools.HttpResponseParser(self)
            self._finish(keep_alive=True)

    def on_body(self, data: bytes) -> None:
        if self.sink is not None:
            self.sink.response_body(data)

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        self._finish(keep_alive=self._parser.should_keep_alive())

    # -- internals --------------------------------------------------------------------------------

    def _body_kind(self, status: int) -> Body:
        if self._head_only or status in (204, 304):
            return Body.NONE
        for name, value in self._headers:
            lowered = name.lower()
            if lowered == b"transfer-encoding" and value.strip().lower().endswith(b"chunked"):
                return Body.CHUNKED
            if lowered == b"content-length":
                return Body.LENGTH
        return Body.UNTIL_CLOSE

    def _finish(self, keep_alive: bool) -> None:
        # The sink's last write may pause this connection (a slow client); the pool resumes it after.
        sink, self.sink = self.sink, None
        if sink is not None:
            sink.response_end()
        if keep_alive:
            self.pool.put(self)
        elif self.transport is not None:
            self.transport.close()

    def _fail(self) -> None:
        # connection_lost tells the sink (once), whatever closed the connection.
        if self.transport is not None:
            self.transport.abort()


class ReplicaPool:
    """Idle keep-alive connections to one replica URL (LIFO: the warmest connection first)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.url = url
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self._idle: list[UpstreamConnection] = []
        self.closed = False

    async def connect(self) -> UpstreamConnection:
        """A usable connection, idle or new; raises OSError/TimeoutError when the replica cannot be reached."""
        while self._idle:
            connection = self._idle.pop()
            if connection.usable():
                return connection
        loop = asyncio.get_running_loop()
        _, connection = await asyncio.wait_for(loop.create_connection(lambda: UpstreamConnection(self), self.host, self.port), CONNECT_TIMEOUT_SECONDS)
        return connection

    def put(self, connection: UpstreamConnection) -> None:
        if self.closed or len(self._idle) >= MAX_IDLE_PER_REPLICA or not connection.usable():
            if connection.transport is not None:
                connection.transport.close()
            return
        # Idle connections read, so a replica's close is seen (and the connection dropped) before reuse.
        connection.resume_reading()
        self._idle.append(connection)

    def forget(self, connection: UpstreamConnection) -> None:
        if connection in self._idle:
            self._idle.remove(connection)

    def close(self) -> None:
        """The replica left the routes: close idle connections now; busy ones close when their exchange ends."""
        self.closed = True
        for connection in self._idle:
            if connection.transport is not None:
                connection.transport.close()
        self._idle.clear()


class Pools:
    """One ReplicaPool per replica URL in the routes; pools of removed URLs are closed."""

    def __init__(self) -> None:
        self._pools: dict[str, ReplicaPool] = {}

    def get(self, url: str) -> ReplicaPool:
        pool = self._pools.get(url)
        if pool is None:
            pool = self._pools[url] = ReplicaPool(url)
        return pool

    def keep_only(self, urls: set[str]) -> None:
        for url in [u for u in self._pools if u not in urls]:
            self._pools.pop(url).close()
