"""HTTP/1.1 framing the proxy writes itself: hop-by-hop filtering, forwarded request heads, response heads, LB errors.

Why by hand: the proxy passes bytes between two httptools parsers (measured 4x aiohttp's throughput,
docs/architecture.md), so the few heads it writes are built here, from the parsed header list, as
bytes. Headers are kept as received (raw names and values, in order, duplicates kept): a proxy must
not merge or re-case what it does not own.
"""

from __future__ import annotations

from collections.abc import Iterable

Headers = list[tuple[bytes, bytes]]

# RFC 9110 section 7.6.1 plus the de-facto ones; Transfer-Encoding and Content-Length are re-derived per hop.
HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"transfer-encoding", b"upgrade", b"proxy-authenticate", b"proxy-authorization"}
)
# Methods a client may safely see re-sent to another replica (RFC 9110 section 9.2.2; POST/PATCH are not).
IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE", b"TRACE"})

REASONS = {
    400: b"Bad Request",
    405: b"Method Not Allowed",
    413: b"Content Too Large",
    414: b"URI Too Long",
    431: b"Request Header Fields Too Large",
    501: b"Not Implemented",
    502: b"Bad Gateway",
    503: b"Service Unavailable",
}


def connection_tokens(headers: Headers) -> frozenset[bytes]:
    """Header names the sender listed in `Connection`: hop-by-hop for this message only (RFC 9110 7.6.1)."""
    tokens: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            tokens.update(t.strip().lower() for t in value.split(b","))
    return frozenset(tokens)


def end_to_end(headers: Headers, also_drop: Iterable[bytes] = ()) -> Headers:
    """The headers a proxy forwards: without hop-by-hop ones, those named in Connection, and `also_drop`."""
    drop = HOP_BY_HOP | connection_tokens(headers) | frozenset(also_drop)
    return [(name, value) for name, value in headers if name.lower() not in drop]


def request_head(method: bytes, target: bytes, headers: Headers, client_ip: bytes, scheme: bytes, body_length: int | None) -> bytes:
    """The head sent to a replica: HTTP/1.1 keep-alive, Host passed as the client sent it, X-Forwarded-* appended.

    The body is always buffered whole (bounded), so it is framed with Content-Length, never chunked.
    """
    forwarded_for = client_ip
    lines = [method, b" ", target, b" HTTP/1.1\r\n"]
    for name, value in end_to_end(headers, (b"content-length", b"expect", b"x-forwarded-for", b"x-forwarded-proto")):
        lines += (name, b": ", value, b"\r\n")
    for name, value in headers:
        if name.lower() == b"x-forwarded-for":
            forwarded_for = value + b", " + client_ip
    lines += (b"x-forwarded-for: ", forwarded_for, b"\r\nx-forwarded-proto: ", scheme, b"\r\n")
    if body_length is not None:
        lines += (b"content-length: %d\r\n" % body_length,)
    lines.append(b"\r\n")
    return b"".join(lines)


def response_head(status: int, reason: bytes, headers: Headers, chunked: bool, keep_alive: bool) -> bytes:
    """The head sent to the client: the replica's end-to-end headers, framing for this hop, and our keep-alive choice."""
    lines = [b"HTTP/1.1 %d " % status, reason or b"-", b"\r\n"]
    for name, value in end_to_end(headers, (b"content-length",) if chunked else ()):
        lines += (name, b": ", value, b"\r\n")
    if chunked:
        lines.append(b"transfer-encoding: chunked\r\n")
    if not keep_alive:
        lines.append(b"connection: close\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


def error_response(status: int, message: str, keep_alive: bool, retry_after: int | None = None) -> bytes:
    """A one-line plain-text answer from the LB itself (the replica never saw the request)."""
    body = (message.rstrip("\n") + "\n").encode()
    lines = [b"HTTP/1.1 %d " % status, REASONS.get(status, b"Error"), b"\r\ncontent-type: text/plain; charset=utf-8\r\n"]
    lines.append(b"content-length: %d\r\n" % len(body))
    if retry_after is not None:
        lines.append(b"retry-after: %d\r\n" % retry_after)
    if not keep_alive:
        lines.append(b"connection: close\r\n")
    lines += (b"\r\n", body)
    return b"".join(lines)


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body (never empty: an empty chunk ends the body)."""
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"
