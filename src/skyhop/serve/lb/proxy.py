"""The public side of the LB: client connections, one exchange per attempt, retries, waiting for a first replica.

Request bodies are buffered whole up to `max_body_bytes` (default 16 MiB, else 413) and sent with
Content-Length: a request then can be re-sent to another replica when the first fails before
answering, and inference requests (JSON prompts) are far below the bound. Responses are never
buffered: every body piece is written to the client as it arrives (chunked towards HTTP/1.1 clients
when the replica streams), and a slow client pauses the replica's connection (backpressure).

Counting (SkyPilot #10444): `Balancer.serve` is the only place that acquires a Slot, and it releases
it in a `finally` around the one await that can end the attempt; an Exchange's outcome future is
resolved by whichever of the replica's connection or the client's connection ends first, exactly once.
"""

from __future__ import annotations

import asyncio
import enum
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import cast

import httptools

from skyhop.serve.lb import wire
from skyhop.serve.lb.ledger import Ledger, Route, Slot
from skyhop.serve.lb.stats import Stats
from skyhop.serve.lb.upstream import Body, Pools, UpstreamConnection

MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Limits:
    """What one client may send; over a limit the LB answers 4xx itself and closes."""

    max_header_bytes: int = 64 * 1024  # request line + headers (nginx's large_client_header_buffers: 4 x 8k)
    max_headers: int = 100
    max_body_bytes: int = 16 * 1024 * 1024
    wait_timeout: float = 600.0
    # A client connection silent this long between requests (or within a request head) is closed:
    # bounds what slow or idle clients hold (nginx's keepalive_timeout is 75 s).
    idle_timeout: float = 75.0
    # A request head (line and headers) must be complete this long after its first byte: a client dribbling
    # one byte at a time would otherwise hold its connection for ever, each byte resetting the idle timer.
    head_timeout: float = 30.0


class Outcome(enum.Enum):
    OK = "ok"
    NOT_SENT = "not_sent"  # the replica could not be reached: safe to re-send any method
    NO_RESPONSE = "no_response"  # sent, but the replica failed before a response byte: re-send idempotent ones
    BROKEN = "broken"  # failed mid-response: the client's connection is cut (it saw a partial answer)
    CLIENT_GONE = "client_gone"


class Reject(Exception):
    """A client request the LB refuses itself (malformed, too large, unsupported)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Request:
    method: bytes
    target: bytes
    headers: wire.Headers
    keep_alive: bool
    body: bytearray = field(default_factory=bytearray)
    has_body: bool = False


class Balancer:
    """Shared state of one LB process: routes, pools, counters, open client connections."""

    def __init__(self, service: str, policy: str, limits: Limits, scheme: bytes) -> None:
        self.service = service
        self.ledger = Ledger(policy)
        self.stats = Stats()
        self.pools = Pools()
        self.limits = limits
        self.scheme = scheme
        self.connections: set[ClientConnection] = set()
        self.draining = False
        self.hold = True  # whether a request finding no replica waits for one (routes.parse_hold)
        self._routes_changed = asyncio.Event()

    def set_routes(self, routes: list[Route], *, hold: bool = True) -> None:
        self.ledger.set_routes(routes)
        self.hold = hold
        self.pools.keep_only({route.url for route in routes})
        # Wake every waiting request; a fresh Event for the next wait.
        self._routes_changed.set()
        self._routes_changed = asyncio.Event()

    def stop_waiting(self) -> None:
        """Shutdown: requests waiting for a first replica give up now (503) instead of at the wait timeout."""
        self.draining = True
        self._routes_changed.set()

    def close_silent(self) -> None:
        """Close client connections that sent nothing for `idle_timeout` while no request of theirs is being served,
        and answer 408 to those whose request head is still incomplete `head_timeout` after it began."""
        now = asyncio.get_running_loop().time()
        horizon = now - self.limits.idle_timeout
        for connection in [c for c in self.connections if c.idle() and c.last_active < horizon]:
            connection.close()
        late = now - self.limits.head_timeout
        for connection in [c for c in self.connections if c.head_started is not None and c.head_started < late]:
            connection.refuse_slow()

    def no_replica_message(self) -> str:
        if not self.hold:
            return f"service {self.service} has no ready replica and none is starting; `skyhop serve status {self.service}` says why"
        return f"service {self.service} has no ready replica yet; `skyhop serve status {self.service}`"

    async def serve(self, connection: ClientConnection, request: Request, started: float) -> None:
        """Route one request to replicas until one answers, the retries run out, or the client leaves."""
        self.stats.arrived(time.time())
        tried: set[int] = set()
        head = wire.request_head(request.method, request.target, request.headers, connection.peer, self.scheme, len(request.body) if request.has_body else None)
        payload = head + bytes(request.body) if request.body else head
        idempotent = request.method in wire.IDEMPOTENT
        for _attempt in range(MAX_ATTEMPTS):
            slot = self.ledger.acquire(tried)
            if slot is None and not tried:
                slot = await self._wait_for_route(connection)
                if slot is None and connection.closed:
                    return
                if slot is None:
                    self.stats.failed += 1
                    connection.write_error(503, self.no_replica_message(), retry_after=5)
                    return
            if slot is None:
                break
            try:
                outcome = await self._attempt(connection, request, payload, slot)
            finally:
                self.ledger.release(slot)
            if outcome is Outcome.OK:
                self.stats.finished(time.perf_counter() - started)
                return
            if outcome is Outcome.CLIENT_GONE:
                return
            if outcome is Outcome.BROKEN or (outcome is Outcome.NO_RESPONSE and not idempotent):
                self.stats.failed += 1
                self.stats.replica_failed(slot.replica_id)
                if outcome is Outcome.NO_RESPONSE:
                    connection.write_error(502, f"service {self.service}: replica {slot.replica_id} closed the connection before answering")
                return
            self.stats.replica_failed(slot.replica_id)
            self.stats.retries += 1
            tried.add(slot.replica_id)
        self.stats.failed += 1
        connection.write_error(502, f"service {self.service}: every ready replica failed this request; `skyhop serve status {self.service}`")

    async def _wait_for_route(self, connection: ClientConnection) -> Slot | None:
        """Scale to zero: hold the request until a replica is routable or the wait timeout passes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.limits.wait_timeout
        self.stats.waiting += 1
        try:
            while not self.draining and self.hold and not connection.closed:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return None
                try:
                    await asyncio.wait_for(self._routes_changed.wait(), remaining)
                except asyncio.TimeoutError:
                    return None
                slot = self.ledger.acquire()
                if slot is not None:
                    return slot
            return None
        finally:
            self.stats.waiting -= 1

    async def _attempt(self, connection: ClientConnection, request: Request, payload: bytes, slot: Slot) -> Outcome:
        self.stats.attempted(slot.replica_id)
        try:
            upstream = await self.pools.get(slot.url).connect()
        except (OSError, asyncio.TimeoutError):
            return Outcome.NOT_SENT
        if connection.closed:
            upstream.pool.put(upstream)
            return Outcome.CLIENT_GONE
        if not upstream.usable():
            return Outcome.NOT_SENT  # closed by the replica while connecting: nothing was sent
        exchange = Exchange(connection, upstream, request.keep_alive and not self.draining)
        connection.exchange = exchange
        upstream.send(payload, exchange, head_only=request.method == b"HEAD")
        try:
            return await exchange.done
        finally:
            connection.exchange = None


class Exchange:
    """One attempt of one request on one replica connection: writes the response to the client as it arrives."""

    def __init__(self, client: ClientConnection, upstream: UpstreamConnection, keep_alive: bool) -> None:
        self.client = client
        self.upstream = upstream
        self.keep_alive = keep_alive
        self.done: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self.started = False
        self._chunked = False
        self._out: list[bytes] = []

    def response_head(self, status: int, reason: bytes, headers: wire.Headers, body: Body) -> None:
        self.started = True
        streamed = body in (Body.CHUNKED, Body.UNTIL_CLOSE)
        if streamed and not self.client.http11:
            self.keep_alive = False  # an HTTP/1.0 client learns the end of the body from the close
        self._chunked = streamed and self.client.http11
        self._out.append(wire.response_head(status, reason, headers, self._chunked, self.keep_alive))

    def response_body(self, data: bytes) -> None:
        if data:
            self._out.append(wire.chunk(data) if self._chunked else data)

    def flush(self) -> None:
        """Write what the replica's last read produced, in one system call (upstream calls this after each read)."""
        if self._out:
            self.client.write(b"".join(self._out))
            self._out.clear()

    def response_end(self) -> None:
        if self._chunked:
            self._out.append(wire.LAST_CHUNK)
        self.flush()
        if not self.keep_alive:
            self.client.close()
        self._resolve(Outcome.OK)

    def upstream_failed(self) -> None:
        if self.started:
            self.flush()
            self.client.abort()
            self._resolve(Outcome.BROKEN)
        else:
            self._resolve(Outcome.NO_RESPONSE)

    def client_gone(self) -> None:
        if self.done.done():
            return  # finished: the replica's connection is back in the pool, maybe serving someone else
        self.upstream.abort()
        self._resolve(Outcome.CLIENT_GONE)

    def _resolve(self, outcome: Outcome) -> None:
        if not self.done.done():
            self.done.set_result(outcome)


class ClientConnection(asyncio.Protocol):
    """One client's keep-alive connection: parses requests (bounded), serves them in order, one at a time."""

    def __init__(self, balancer: Balancer) -> None:
        self.balancer = balancer
        self.limits = balancer.limits
        self.transport: asyncio.Transport | None = None
        self.peer = b"unknown"
        self.closed = False
        self.http11 = True
        self.exchange: Exchange | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._pending: deque[tuple[Request, float]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._current: Request | None = None
        self._url = bytearray()
        self._headers: wire.Headers = []
        self._head_bytes = 0
        #: When the request head now arriving began (None between heads).
        self.head_started: float | None = None
        self._reading = True
        self._loop = asyncio.get_running_loop()
        self.last_active = self._loop.time()

    # -- asyncio.Protocol -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and peer:
            self.peer = str(peer[0]).encode()
        self.balancer.connections.add(self)

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self.last_active = self._loop.time()
        try:
            self._parser.feed_data(data)
        except Reject as reject:
            self._refuse(reject.status, str(reject))
        except httptools.HttpParserUpgrade:
            self._refuse(501, "protocol upgrades (WebSocket) are not supported by the skyhop load balancer")
        except httptools.HttpParserError as error:
            cause = error.__context__
            if isinstance(cause, Reject):
                self._refuse(cause.status, str(cause))
            else:
                self._refuse(400, "malformed HTTP request")

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.balancer.connections.discard(self)
        self._pending.clear()
        if self.exchange is not None:
            self.exchange.client_gone()
        elif self._task is not None:
            # Waiting for a replica or connecting: nothing to finish; the task's finally blocks release what it holds.
            self._task.cancel()

    def pause_writing(self) -> None:
        # Backpressure: stop reading the replica while this client's buffer is full.
        if self.exchange is not None and not self.exchange.done.done():
            self.exchange.upstream.pause_reading()

    def resume_writing(self) -> None:
        # A finished exchange's connection may already serve another client: leave it alone.
        if self.exchange is not None and not self.exchange.done.done():
            self.exchange.upstream.resume_reading()

    # -- httptools callbacks ----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = bytearray()
        self._headers = []
        self._head_bytes = 0
        self._current = None
        self.head_started = self._loop.time()

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > self.limits.max_header_bytes:
            raise Reject(414, "request target too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        # Counted as received: the head's size is bounded before it is complete.
        self._head_bytes += len(name) + len(value) + 4
        if self._head_bytes + len(self._url) > self.limits.max_header_bytes or len(self._headers) >= self.limits.max_headers:
            raise Reject(431, "request headers too large")
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.head_started = None
        parser = self._parser
        method = parser.get_method()
        if method == b"CONNECT":
            raise Reject(405, "CONNECT is not supported by the skyhop load balancer")
        if parser.should_upgrade():
            raise Reject(501, "protocol upgrades (WebSocket) are not supported by the skyhop load balancer")
        self.http11 = parser.get_http_version() == "1.1"
        request = Request(method, bytes(self._url), self._headers, parser.should_keep_alive())
        length = None
        for name, value in self._headers:
            lowered = name.lower()
            if lowered == b"content-length":
                length = int(value) if value.strip().isdigit() else None
                request.has_body = True
            elif lowered == b"transfer-encoding":
                request.has_body = True
        if length is not None and length > self.limits.max_body_bytes:
            raise Reject(413, f"request body over {self.limits.max_body_bytes} bytes")
        if request.has_body and any(n.lower() == b"expect" and v.lower() == b"100-continue" for n, v in self._headers) and self.http11:
            self.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self._current = request

    def on_body(self, data: bytes) -> None:
        request = self._current
        if request is None:
            return
        if len(request.body) + len(data) > self.limits.max_body_bytes:
            raise Reject(413, f"request body over {self.limits.max_body_bytes} bytes")
        request.body += data

    def on_message_complete(self) -> None:
        request, self._current = self._current, None
        if request is None:
            return
        self._pending.append((request, time.perf_counter()))
        if len(self._pending) > 1 and self._reading and self.transport is not None:
            # Pipelined requests queue; stop reading so a client cannot queue unboundedly.
            self.transport.pause_reading()
            self._reading = False
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._serve_pending())

    # -- writing (used by Exchange and Balancer) --------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def write_error(self, status: int, message: str, retry_after: int | None = None) -> None:
        keep_alive = not self.balancer.draining
        self.write(wire.error_response(status, message, keep_alive, retry_after))
        if not keep_alive:
            self.close()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def idle(self) -> bool:
        return self._task is None and not self._pending

    # -- internals --------------------------------------------------------------------------------

    def refuse_slow(self) -> None:
        """The request head took longer than `head_timeout`: 408 and close."""
        self.head_started = None
        self._refuse(408, f"request head not received within {self.limits.head_timeout:g} s")

    def _refuse(self, status: int, message: str) -> None:
        self.balancer.stats.rejected += 1
        if self.idle():
            self.write(wire.error_response(status, message, keep_alive=False))
        # Mid-exchange a refusal of a pipelined request cannot be ordered after the answer: just close.
        self.closed = True
        self.close()

    async def _serve_pending(self) -> None:
        try:
            while self._pending and self.transport is not None and not self.transport.is_closing():
                request, started = self._pending.popleft()
                await self.balancer.serve(self, request, started)
                if not request.keep_alive:
                    self.close()
                    return
            if not self._reading and not self.closed and self.transport is not None:
                self.transport.resume_reading()
                self._reading = True
        except Exception as error:  # a bug here must cost one connection, never the LB process
            print(f"skyhop lb: internal error serving a request: {error!r}", file=sys.stderr)
            self.abort()
        finally:
            self._task = None
