"""Request bodies are capped while they are read: 413 with a clear message, chunked bodies included.

Before the cap, a 50 MB body was accepted and stored with the request. The
server must answer 413 without reading the rest of an oversized body, so the
tests stop sending once the limit is passed and read the answer.
"""

from __future__ import annotations

import json
import socket

import pytest

from server.api_http import send, start_server, stop_server

LIMIT_KB = 16


@pytest.fixture(scope="module")
def small_server(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    proc, server = start_server(home, config=f"api_server:\n  max_body_mb: {LIMIT_KB / 1024}\n")
    yield server
    stop_server(proc, server)


def _exchange(server, head: bytes, chunks: list[bytes]) -> tuple[int, dict]:
    """Send headers then chunks (stopping if the server already answered); the status and JSON answer."""
    with socket.create_connection(server.host_port, timeout=30) as sock:
        sock.sendall(head)
        for chunk in chunks:
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
            more = sock.recv(65536)
            if not more:
                break
            data += more
    head_text, _, body = data.partition(b"\r\n\r\n")
    return int(head_text.split()[1]), json.loads(body)


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


def _head(server, extra: str) -> bytes:
    return (
        f"POST /api/v1/requests HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {server.token}\r\n"
        f"Content-Type: application/json\r\n{extra}\r\n"
    ).encode()


def test_declared_oversized_body_gets_413_before_it_is_sent(small_server):
    status, answer = _exchange(small_server, _head(small_server, f"Content-Length: {50 * 1024 * 1024}\r\n"), [])
    assert status == 413
    assert answer["code"] == "payload_too_large" and "max_body_mb" in answer["detail"]


def test_chunked_body_is_cut_off_at_the_limit(small_server):
    chunk = b"x" * 4096
    chunks = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * (4 * LIMIT_KB)  # 4x the limit, with no length up front
    status, answer = _exchange(small_server, _head(small_server, "Transfer-Encoding: chunked\r\n"), chunks + [b"0\r\n\r\n"])
    assert status == 413 and answer["code"] == "payload_too_large"


def test_bodies_under_the_limit_still_work(small_server):
    answer = send(small_server, "POST", "/api/v1/requests", json_body={"name": "down", "body": {"cluster": "c" * 63}})
    assert answer.status == 200, answer.text
    assert send(small_server, "GET", "/api/v1/health").status == 200


def test_the_limit_comes_from_config_and_a_bad_value_is_refused(tmp_path):
    with pytest.raises(AssertionError, match="max_body_mb"):
        start_server(tmp_path, config="api_server:\n  max_body_mb: lots\n")
