"""Load balancer throughput and added latency: wrk straight at one replica, then through `python -m skyhop.serve.lb`.

    .venv/bin/python benchmarks/serve_lb.py                 # 3 runs of 5 s per row, medians (~2 min)
    .venv/bin/python benchmarks/serve_lb.py --runs 5 --seconds 10

The replica is this file run with `--replica PORT MODE` (uvloop, a raw asyncio Protocol): it answers
a fixed 19-byte body (`plain`) or a 4-event `text/event-stream` in chunked encoding (`stream`), so
the replica costs as little as possible and the difference is the LB's. Every row is wrk with one
thread on loopback (`wrk -t1 -cC -dS --latency`): C=32 for throughput (the LB saturated: its p50 is
mostly queueing, about C / throughput), C=8 and C=4 for a busy LB that is not saturated (the issue's
budget: >= 3,000 req/s with < 2 ms added p50 in the same run), C=1 for the latency one request pays
with nothing queued (`--connections` changes the list). wrk, the replica and the LB share the machine's cores (2 in CI), so the
LB rows are also slowed by wrk and the replica; the medians of `--runs` runs are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BODY = b"hello from replica\n"
PLAIN = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n\r\n%s" % (len(BODY), BODY)
EVENTS = b"".join(b"%x\r\n%s\r\n" % (len(event), event) for event in (b"data: token %d\n\n" % i for i in range(4)))
STREAM = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n" + EVENTS + b"0\r\n\r\n"
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


class ReplicaProtocol(asyncio.Protocol):
    """Answers every request head (GETs without bodies) with one canned response."""

    def __init__(self, response: bytes) -> None:
        self.response = response
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            self.buffer = self.buffer[end + 4 :]
            self.transport.write(self.response)  # type: ignore[attr-defined]


def replica(port: int, mode: str) -> None:
    import uvloop

    async def serve() -> None:
        response = STREAM if mode == "stream" else PLAIN
        server = await asyncio.get_running_loop().create_server(lambda: ReplicaProtocol(response), "127.0.0.1", port, backlog=2048)
        await server.serve_forever()

    uvloop.run(serve())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def wrk(port: int, connections: int, seconds: int) -> tuple[float, float, float, int]:
    """(requests/s, p50 ms, p99 ms, errors) of one wrk run."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", f"http://127.0.0.1:{port}/"], capture_output=True, text=True, check=True
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    quantiles = {q: float(v) * UNITS[u] for q, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)$", out, re.M)}
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    errors += sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    return rps, quantiles["50"], quantiles["99"], errors


def measure(mode: str, runs: int, seconds: int, levels: tuple[int, ...] = (32, 8, 4, 1)) -> list[dict[str, object]]:
    replica_port, lb_port = free_port(), free_port()
    directory = Path(tempfile.mkdtemp(prefix="skyhop-lb-bench-"))
    os.chmod(directory, 0o700)
    (directory / "routes.json").write_text(json.dumps({"routes": [{"replica_id": 1, "url": f"http://127.0.0.1:{replica_port}"}]}))
    processes = [
        subprocess.Popen([sys.executable, __file__, "--replica", str(replica_port), mode]),
        subprocess.Popen([sys.executable, "-m", "skyhop.serve.lb", "--dir", str(directory), "--host", "127.0.0.1", "--port", str(lb_port)]),
    ]
    rows = []
    try:
        wait_for_port(replica_port)
        wait_for_port(lb_port)
        for connections in levels:
            for target, port in (("direct", replica_port), ("through LB", lb_port)):
                wrk(port, connections, 1)  # warm-up: connections, pools, caches
                samples = [wrk(port, connections, seconds) for _ in range(runs)]
                rows.append(
                    {
                        "mode": mode,
                        "connections": connections,
                        "target": target,
                        "rps": statistics.median(s[0] for s in samples),
                        "p50_ms": statistics.median(s[1] for s in samples),
                        "p99_ms": statistics.median(s[2] for s in samples),
                        "errors": sum(s[3] for s in samples),
                    }
                )
    finally:
        for process in processes:
            process.terminate()
            process.wait(40)
        shutil.rmtree(directory, ignore_errors=True)
    return rows


def table(rows: list[dict[str, object]]) -> str:
    lines = ["| body | wrk -c | target | req/s | p50 | p99 | added p50 | errors |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    direct: dict[tuple[object, object], float] = {}
    for row in rows:
        key = (row["mode"], row["connections"])
        p50 = float(row["p50_ms"])  # type: ignore[arg-type]
        added = ""
        if row["target"] == "direct":
            direct[key] = p50
        else:
            added = f"{p50 - direct[key]:+.2f} ms"
        lines.append(f"| {row['mode']} | {row['connections']} | {row['target']} | {float(row['rps']):,.0f} | {p50:.2f} ms | {float(row['p99_ms']):.2f} ms | {added} | {row['errors']} |")  # type: ignore[arg-type]
    return "\n".join(lines)


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--runs", type=int, default=3)
    cli.add_argument("--seconds", type=int, default=5)
    cli.add_argument("--connections", default="32,8,4,1", help="wrk -c levels, comma-separated")
    cli.add_argument("--replica", nargs=2, metavar=("PORT", "MODE"), help=argparse.SUPPRESS)
    args = cli.parse_args()
    if args.replica:
        replica(int(args.replica[0]), args.replica[1])
        return
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (tests/setup_system.sh installs it)")
    levels = tuple(int(c) for c in args.connections.split(","))
    rows = measure("plain", args.runs, args.seconds, levels) + measure("stream", args.runs, args.seconds, levels)
    print(f"{os.cpu_count()} CPUs, {args.runs} runs x {args.seconds} s per row, medians")
    print(table(rows))


if __name__ == "__main__":
    main()
