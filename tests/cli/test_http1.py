"""The CLI's own HTTP/1.1 exchange against a real socket server that answers with each framing the
protocol allows (the API server itself is covered by every end-to-end test): Content-Length,
chunked with extensions and trailers, until close, no body, an informational answer first, and
answers that break off or are not HTTP."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from skyhop.client import http1


@contextmanager
def answering(raw: bytes) -> Iterator[tuple[int, list[bytes]]]:
    """A TCP server on a free port that reads one request head and writes `raw` back, then closes."""
    received: list[bytes] = []

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                line = self.rfile.readline()
                if not line:
                    break
                head += line
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0)
            received.append(head + self.rfile.read(length))
            self.wfile.write(raw)

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield server.server_address[1], received
        finally:
            server.shutdown()


def ask(port: int, method: str = "GET", body: bytes | None = None) -> http1.Response:
    return http1.exchange("http", "127.0.0.1", port, method, "/api/v1/x?a=1", {"Authorization": "Bearer t"}, body, 10)


def test_a_content_length_body_and_the_request_as_sent():
    with answering(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-A: b\r\n\r\nhello worldIGNORED") as (port, received):
        response = ask(port, "POST", b'{"k": 1}')
        assert (response.status, response.headers["x-a"]) == (200, "b")
        assert response.read() == b"hello world"
        assert response.read() == b""
        response.close()
    head, _, body = received[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /api/v1/x?a=1 HTTP/1.1" and b"Authorization: Bearer t" in lines and b"Connection: close" in lines
    assert b"Content-Length: 8" in lines and body == b'{"k": 1}'


def test_a_chunked_stream_read_by_lines_across_chunk_boundaries():
    raw = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"4;ext=1\r\n{\"a\"\r\n" b"6\r\n: 1}\n{\r\n" b"8\r\n\"b\": 2}\n\r\n" b"0\r\nTrailer: x\r\n\r\n")
    with answering(raw) as (port, _):
        response = ask(port)
        assert list(iter(response.readline, b"")) == [b'{"a": 1}\n', b'{"b": 2}\n']
        response.close()


def test_a_body_until_close_with_read1_and_a_limited_read():
    with answering(b"HTTP/1.0 200 OK\r\n\r\n" + b"x" * 100_000) as (port, _):
        response = ask(port)
        assert response.read(10) == b"x" * 10
        rest = b"".join(iter(lambda: response.read1(4096), b""))
        assert len(rest) == 99_990
        response.close()


def test_no_content_and_an_informational_answer_first():
    with answering(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n") as (port, _):
        response = ask(port)
        assert response.status == 204 and response.read() == b""


@pytest.mark.parametrize("raw", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort",  # the connection ends before the body's end
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nonly-part",  # ... inside a chunk
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",  # a chunk size that is not hex
])
def test_a_body_that_breaks_off_is_a_connection_error(raw):
    with answering(raw) as (port, _):
        response = ask(port)
        with pytest.raises(ConnectionError):
            response.read()


@pytest.mark.parametrize("raw", [b"", b"SSH-2.0-OpenSSH_9.2\r\n", b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
                                 b"HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n"])
def test_an_answer_that_is_not_http_is_a_connection_error(raw):
    with answering(raw) as (port, _), pytest.raises(ConnectionError):
        ask(port)


def test_no_line_break_or_space_reaches_the_wire():
    with pytest.raises(ValueError):
        http1.exchange("http", "127.0.0.1", 9, "GET", "/a b", {}, None, 1)
    with pytest.raises(ValueError):
        http1.exchange("http", "127.0.0.1", 9, "GET", "/a", {"Authorization": "Bearer x\r\nX-Evil: 1"}, None, 1)


def test_a_closed_port_is_an_os_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(OSError):
        ask(port)


@pytest.mark.parametrize("raw", [
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\n" + b"x" * 1000,  # int(.., 16) takes a sign
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nabcde\r\n0\r\n\r\n",  # ... and a prefix
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n" + b"x" * 1000,  # 2**64 bytes to come
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n" + b"X: y\r\n" * 1000,  # a trailer without end
])
def test_a_chunk_size_out_of_the_grammar_or_an_endless_trailer_is_a_connection_error(raw):
    with answering(raw) as (port, _):
        response = ask(port)
        with pytest.raises(ConnectionError):
            response.read()


def test_informational_answers_without_end_are_a_connection_error():
    with answering(b"HTTP/1.1 100 Continue\r\n\r\n" * 100 + b"HTTP/1.1 204 No Content\r\n\r\n") as (port, _), pytest.raises(ConnectionError):
        ask(port)


def test_a_streamed_line_without_end_is_not_buffered_for_ever(monkeypatch):
    monkeypatch.setattr(http1, "_MAX_BODY_LINE", 1000)
    with answering(b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 100_000) as (port, _):
        response = ask(port)
        with pytest.raises(ConnectionError):
            response.readline()


@pytest.mark.parametrize(("raw", "said"), [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000000000\r\n\r\n" + b" " * 5000, "answered more than"),  # no end in sight
    (b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"a\":", "broke off its answer"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "not JSON: 'hello'"),
])
def test_a_json_call_with_an_answer_too_large_broken_or_not_json_is_one_sentence(monkeypatch, raw, said):
    from skyhop.client import http
    from skyhop.client.server_process import Endpoint
    from skyhop.errors import SkyhopError

    monkeypatch.setattr(http, "_ANSWER_MAX", 4096)
    with answering(raw) as (port, _), pytest.raises(SkyhopError, match=said):
        http.call(Endpoint(f"http://127.0.0.1:{port}", None), "GET", "/api/v1/health", timeout=10)


def test_a_redirect_is_not_followed_and_says_where_it_points():
    """nginx's port 80 answers 301 to https://: the token is not sent there, and the user learns the URL to use."""
    from skyhop.client import http
    from skyhop.client.server_process import Endpoint
    from skyhop.errors import SkyhopError

    raw = b"HTTP/1.1 301 Moved Permanently\r\nLocation: https://skyhop.example.com/api/v1/whoami\r\nContent-Length: 0\r\n\r\n"
    with answering(raw) as (port, received), pytest.raises(SkyhopError, match="redirects to https://skyhop.example.com/api/v1/whoami"):
        http.call(Endpoint(f"http://127.0.0.1:{port}", "shp_token"), "GET", "/api/v1/whoami", timeout=10)
    assert len(received) == 1


def test_the_timeout_bounds_the_whole_answer_not_each_read():
    """A peer that sends a header line now and then never lets one read time out; the answer's timeout still ends it."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            while not stop.wait(0.2):
                try:
                    conn.sendall(b"X-A: b\r\n")
                except OSError:
                    return

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        with pytest.raises(TimeoutError):
            http1.exchange("http", "127.0.0.1", listener.getsockname()[1], "GET", "/", {}, None, 1.0)
    finally:
        stop.set()
        listener.close()


@pytest.mark.parametrize("body", [b'"x"', b"[1,2]", b"null", b'{"clusters": 5}', b"[]"])
@pytest.mark.parametrize("command", [["status"], ["queue", "c"], ["jobs", "queue"], ["cost-report"], ["jobs", "pool", "status"]])
def test_an_answer_of_the_wrong_shape_is_one_paragraph_never_a_traceback(isolated_home, body, command):
    """What a broken or hostile `SKYHOP_API_SERVER_URL` answers to every request: the CLI names the server and
    the answer in one paragraph instead of tripping over it mid-print (it raised AttributeError and TypeError)."""
    from helpers import run_cli

    raw = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    with answering(raw) as (port, _):
        result = run_cli(isolated_home, *command, SKYHOP_API_SERVER_URL=f"http://127.0.0.1:{port}")
    assert "Traceback" not in result.stderr, result.stderr
    if body == b"[]" and command != ["cost-report"]:
        assert result.returncode == 0  # an empty list is a fine answer
    elif body != b"[]":
        assert result.returncode != 0 and f"127.0.0.1:{port}" in result.stderr and "not a" in result.stderr, result.stderr
