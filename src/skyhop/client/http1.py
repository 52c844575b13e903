"""One HTTP/1.1 exchange over a socket: all the CLI asks of HTTP, without `http.client`.

`http.client` parses headers with the `email` package, whose import was about a
quarter of a quick CLI command's start-up (`skyhop jobs queue`, `status`). The
API server's answers need much less: a status line, headers, and a body framed
by `Content-Length`, by chunked transfer coding (streamed answers), or by the
end of the connection. Each exchange uses its own connection (`Connection:
close`), as the CLI makes one or two calls per command.
"""

from __future__ import annotations

import socket
import time

_MAX_LINE = 64 * 1024
_MAX_HEADERS = 200
_MAX_INFORMATIONAL = 20  # 1xx answers before the real one: a server that sends them for ever is not answering
_MAX_CHUNK_DIGITS = 16  # a chunk of at most 2**64 - 1 bytes
_MAX_BODY_LINE = 64 * 1024 * 1024  # `readline`: a streamed line (one event) that never ends is not buffered for ever
_NO_BODY = frozenset({204, 304})


class ProtocolError(ConnectionError):
    """The answer was not HTTP/1.x as framed above. A `ConnectionError`: callers treat a garbled answer as a broken connection."""


class NoAnswer(ProtocolError):
    """The server closed the connection before it sent a single byte of an answer."""


class Response:
    """A response's status and headers, and its body as a stream (`read`, `read1`, `readline`)."""

    def __init__(self, sock: socket.socket, timeout: float | None = None) -> None:
        self._sock = sock
        # `timeout` bounds the whole answer, not each read: a peer that trickles a byte now and then is still a timeout.
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._file = sock.makefile("rb")
        self._pending = b""
        self._eof = False
        self._chunk_left = 0  # chunked: bytes left in the current chunk
        self.status, self.reason = self._status_line()
        for _ in range(_MAX_INFORMATIONAL):
            if not 100 <= self.status < 200:
                break
            self._headers()  # informational answers come before the real one
            self.status, self.reason = self._status_line()
        else:
            raise ProtocolError(f"more than {_MAX_INFORMATIONAL} informational answers")
        self.headers = self._headers()
        self._chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        self._left: int | None = None  # Content-Length framing: bytes left; None: chunked or until close
        if self.status in _NO_BODY:
            self._eof = True
        elif not self._chunked and "content-length" in self.headers:
            try:
                self._left = int(self.headers["content-length"])
            except ValueError:
                raise ProtocolError(f"bad Content-Length {self.headers['content-length']!r}") from None
            if self._left < 0:
                raise ProtocolError(f"bad Content-Length {self._left}")

    def _arm(self) -> None:
        """Give the next read what is left of the answer's time."""
        if self._deadline is not None:
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("timed out")
            self._sock.settimeout(left)

    def _line(self) -> bytes:
        self._arm()
        line = self._file.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise ProtocolError("a header line longer than 64 KiB")
        return line

    def _status_line(self) -> tuple[int, str]:
        line = self._line()
        if not line:
            raise NoAnswer("the server closed the connection without answering")
        version, _, rest = line.decode("latin-1").strip().partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/1.") or not code.isdigit() or len(code) != 3:
            raise ProtocolError(f"not an HTTP/1.x status line: {line[:80]!r}")
        return int(code), reason

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADERS):
            line = self._line()
            if line in (b"\r\n", b"\n", b""):
                return headers
            name, colon, value = line.decode("latin-1").partition(":")
            if not colon:
                raise ProtocolError(f"a malformed header line: {line[:80]!r}")
            headers[name.strip().lower()] = value.strip()
        raise ProtocolError(f"more than {_MAX_HEADERS} headers")

    def _next_chunk(self) -> None:
        """Start the next chunk; at the last (size 0) one, skip the trailer and mark the end."""
        size = self._line().split(b";", 1)[0].strip()
        # Hex digits only: `int(..., 16)` alone would also take "-5", "0x5" and "1_0".
        if not 0 < len(size) <= _MAX_CHUNK_DIGITS or size.strip(b"0123456789abcdefABCDEF"):
            raise ProtocolError(f"a malformed chunk size: {size[:20]!r}")
        self._chunk_left = int(size, 16)
        if self._chunk_left == 0:
            self._headers()  # the trailer, bounded as the headers are
            self._eof = True

    def _raw(self, limit: int) -> bytes:
        """Up to `limit` body bytes (at least one unless the body has ended), reading at most once from the socket."""
        if self._eof or limit <= 0:
            return b""
        if self._chunked:
            if self._chunk_left == 0:
                self._next_chunk()
                if self._eof:
                    return b""
            self._arm()
            data = self._file.read1(min(limit, self._chunk_left))
            if not data:
                raise ProtocolError("the connection ended inside a chunk")
            self._chunk_left -= len(data)
            if self._chunk_left == 0:
                self._line()  # the CRLF after each chunk's data
            return data
        if self._left is not None:
            if self._left == 0:
                self._eof = True
                return b""
            self._arm()
            data = self._file.read1(min(limit, self._left))
            if not data:
                raise ProtocolError(f"the connection ended {self._left} byte(s) before the answer's end")
            self._left -= len(data)
            return data
        self._arm()
        data = self._file.read1(limit)
        if not data:
            self._eof = True
        return data

    def read1(self, limit: int = 65536) -> bytes:
        """What is at hand, up to `limit` bytes; b"" only at the body's end."""
        if self._pending:
            data, self._pending = self._pending[:limit], self._pending[limit:]
            return data
        return self._raw(limit)

    def read(self, limit: int = -1) -> bytes:
        """The body's next `limit` bytes (all of the rest when negative), fewer only at its end."""
        parts = []
        wanted = limit if limit >= 0 else None
        while wanted is None or wanted > 0:
            data = self.read1(65536 if wanted is None else min(wanted, 65536))
            if not data:
                break
            parts.append(data)
            if wanted is not None:
                wanted -= len(data)
        return b"".join(parts)

    def readline(self) -> bytes:
        """The body's next line, with its newline (without one at the body's end)."""
        while b"\n" not in self._pending:
            if len(self._pending) > _MAX_BODY_LINE:
                raise ProtocolError(f"a line of the answer longer than {_MAX_BODY_LINE >> 20} MiB")
            data = self._raw(65536)
            if not data:
                line, self._pending = self._pending, b""
                return line
            self._pending += data
        line, _, self._pending = self._pending.partition(b"\n")
        return line + b"\n"

    def close(self) -> None:
        self._file.close()
        self._sock.close()


def exchange(scheme: str, host: str, port: int | None, method: str, target: str, headers: dict[str, str], body: bytes | None,
             timeout: float | None) -> Response:
    """Send one request and read the answer's head; the body is read from the returned `Response`.

    `timeout` bounds the connection and the whole answer (head and body), None waits for ever.

    Raises ValueError for a request that cannot be sent as given (control
    characters in the target or a header), OSError when the connection fails.
    """
    _check_token(target, "request target")
    for name, value in headers.items():
        _check_token(name, "header name")
        if "\r" in value or "\n" in value:
            raise ValueError(f"the {name} header holds a line break")
    tls = scheme == "https"
    port = port or (443 if tls else 80)
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        if tls:
            import ssl  # only for remote servers over https

            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        authority = f"[{host}]" if ":" in host else host
        head = [f"{method} {target} HTTP/1.1", f"Host: {authority}:{port}", "Connection: close",
                *(f"{name}: {value}" for name, value in headers.items())]
        if body is not None or method in ("POST", "PUT", "PATCH"):
            head.append(f"Content-Length: {len(body or b'')}")
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (body or b""))
        return Response(sock, timeout)
    except BaseException:
        sock.close()
        raise


def _check_token(text: str, what: str) -> None:
    if not text or any(ord(c) <= 0x20 or ord(c) >= 0x7F for c in text):
        raise ValueError(f"the {what} {text[:80]!r} holds spaces or control characters")
