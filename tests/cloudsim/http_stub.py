"""The shell of every replay server (GCP, Lambda, RunPod, Spheron): a threaded HTTP server on loopback
that hands every request to one function, reading a request's body and sending a JSON answer, and
the rules that inject errors into chosen calls."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, TypeVar

R = TypeVar("R", bound=Any)


def serve(handle: Callable[[BaseHTTPRequestHandler], None], host: str = "127.0.0.1") -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Serve GET, POST, PUT, PATCH and DELETE on `host` (a free port) with `handle`; the server and its thread."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            handle(self)

        do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer((host, 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return httpd, thread


def read_body(request: BaseHTTPRequestHandler) -> bytes:
    length = int(request.headers.get("Content-Length") or 0)
    return request.rfile.read(length) if length else b""


def send_json(request: BaseHTTPRequestHandler, status: int, answer: Any, content_type: str = "application/json") -> None:
    """`answer` as JSON (an empty body for None). A caller that went away (a machine that terminated
    itself, a killed API server) is no error: what it asked for is done, as a real API sees it."""
    data = b"" if answer is None else json.dumps(answer).encode()
    try:
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
    except OSError:
        pass


def url_of(httpd: ThreadingHTTPServer) -> str:
    host, port = httpd.server_address[:2]
    return f"http://{host}:{port}"


def take(rules: list[R], matches: Callable[[R], bool]) -> R | None:
    """The first rule that `matches`, spending one of its `times` (a rule whose times run out is dropped;
    None: unlimited). The caller holds the lock that guards `rules`."""
    for index, rule in enumerate(rules):
        if not matches(rule):
            continue
        if rule.times is not None:
            if rule.times <= 1:
                del rules[index]
            else:
                rules[index] = replace(rule, times=rule.times - 1)
        return rule
    return None
