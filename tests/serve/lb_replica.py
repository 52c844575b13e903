"""A replica for the load-balancer tests, run as its own process (so killing it is a real kill).

`python lb_replica.py PORT REPLICA_ID [BIND_HOST]`, stdlib only, HTTP/1.1 keep-alive:
  GET  /id                 "replica N"
  GET  /headers            the request's headers as JSON
  POST|PUT /echo           the body back, with "x-replica: N"
  GET  /stream?n=K         chunked text/event-stream: one event, then waits for GET /release, then K-1 more
  GET  /slow?ms=M          answers "replica N" after M milliseconds
  GET  /release            lets every held /stream continue
  GET  /big?bytes=B        B bytes of "x"
  GET  /peer               the port the request came from (the LB's pooled connection)
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

RELEASED = threading.Event()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    replica_id = "0"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, body: bytes, kind: str = "text/plain") -> None:
        self.send_response(200)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.send_header("x-replica", self.replica_id)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/headers":
            self._send(json.dumps([[k.lower(), v] for k, v in self.headers.items()]).encode(), "application/json")
        elif url.path == "/release":
            RELEASED.set()
            self._send(b"released")
        elif url.path == "/slow":
            time.sleep(int(query.get("ms", ["100"])[0]) / 1000)
            self._send(f"replica {self.replica_id}".encode())
        elif url.path == "/peer":
            self._send(str(self.client_address[1]).encode())
        elif url.path == "/big":
            self._send(b"x" * int(query.get("bytes", ["1000000"])[0]))
        elif url.path == "/stream":
            self._stream(int(query.get("n", ["3"])[0]))
        else:
            self._send(f"replica {self.replica_id}".encode())

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        self._send(body)

    do_PUT = do_POST

    def _stream(self, n: int) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for i in range(n):
            if i == 1:
                RELEASED.wait(30)
            event = f"data: event {i}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")


def main() -> None:
    port, replica_id = int(sys.argv[1]), sys.argv[2]
    host = sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1"  # 0.0.0.0 on an SSH test host, reached from outside
    Handler.replica_id = replica_id
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
