"""The functions worker's own cost per call, over a pipe, without relay or client library.

    .venv/bin/python benchmarks/fnworker.py                # 2,000 no-op calls, medians of 5 rounds
    .venv/bin/python benchmarks/fnworker.py --calls 5000 --slots 1

One `python -u -m skyhop_agent.fnworker` on pipes, driven from this process in
frames as the relay does (the CALL payload is pickled once up front: the
caller's pickling is not the worker's cost). Reported:

* the round trip of one no-op call at a time (send CALL, read RESULT), p50 and p90,
  next to the floor of the same frames echoed by `cat` (two pipe hops and a process wake-up
  each way, no Python), so `worker - floor` is what the worker adds;
* the worker's CPU per no-op call (user+sys from /proc, immune to how busy the machine is);
* throughput with 64 calls in flight, and of MODE_BATCH calls of 64 identity items.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import cloudpickle

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))

from skyhop_agent import fnwire  # noqa: E402

RANK = 0


def start(argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(SRC)})


def frame(kind: int, call_id: int, payload: bytes = b"") -> bytes:
    return fnwire.encode(fnwire.Frame(kind, RANK, call_id, payload))


def put(stdin: IO[bytes], obj: object) -> str:
    data = cloudpickle.dumps(obj, protocol=5)
    digest = hashlib.blake2b(data, digest_size=fnwire.DIGEST_SIZE).digest()
    stdin.write(frame(fnwire.PUT, 0, digest + data))
    stdin.flush()
    return digest.hex()


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def round_trips(stdin: IO[bytes], stdout: IO[bytes], data: bytes, count: int, expect: int) -> list[float]:
    times = []
    for _ in range(count):
        start_s = time.perf_counter()
        stdin.write(data)
        stdin.flush()
        got = fnwire.read_frame(stdout)
        times.append(time.perf_counter() - start_s)
        assert got is not None and got.kind == expect, got
    return times


def in_flight(stdin: IO[bytes], stdout: IO[bytes], payload: bytes, count: int, window: int) -> float:
    """Seconds for `count` calls with up to `window` outstanding."""
    start_s = time.perf_counter()
    sent = done = 0
    while done < count:
        while sent < count and sent - done < window:
            sent += 1
            stdin.write(frame(fnwire.CALL, sent, payload))
        stdin.flush()
        got = fnwire.read_frame(stdout)
        assert got is not None and got.kind == fnwire.RESULT, got
        done += 1
    return time.perf_counter() - start_s


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1e6


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--calls", type=int, default=2000)
    cli.add_argument("--rounds", type=int, default=5)
    cli.add_argument("--slots", type=int, default=2)
    args = cli.parse_args()

    echo = start(["cat"])
    assert echo.stdin is not None and echo.stdout is not None
    ping = frame(fnwire.PING, 1)
    round_trips(echo.stdin, echo.stdout, ping, 200, fnwire.PING)
    floor = [round_trips(echo.stdin, echo.stdout, ping, args.calls, fnwire.PING) for _ in range(args.rounds)]
    echo.stdin.close()
    echo.wait()

    worker = start([sys.executable, "-u", "-m", "skyhop_agent.fnworker", "--rank", str(RANK), "--slots", str(args.slots)])
    assert worker.stdin is not None and worker.stdout is not None
    hello = fnwire.read_frame(worker.stdout)
    assert hello is not None and hello.kind == fnwire.HELLO
    noop = put(worker.stdin, lambda: None)
    ident = put(worker.stdin, lambda x: x)
    call = cloudpickle.dumps((noop, fnwire.MODE_CALL, (), {}, {"name": "noop", "timeout": None}), protocol=5)
    batch = cloudpickle.dumps((ident, fnwire.MODE_BATCH, (list(range(64)),), {}, {"name": "ident", "timeout": None}), protocol=5)
    round_trips(worker.stdin, worker.stdout, frame(fnwire.CALL, 1, call), 200, fnwire.RESULT)

    rows: list[tuple[str, Any]] = []
    calls, cpus = [], []
    for _ in range(args.rounds):
        before = cpu_s(worker.pid)
        calls.append(round_trips(worker.stdin, worker.stdout, frame(fnwire.CALL, 1, call), args.calls, fnwire.RESULT))
        cpus.append((cpu_s(worker.pid) - before) / args.calls * 1e6)
    pipelined = [args.calls / in_flight(worker.stdin, worker.stdout, call, args.calls, 64) for _ in range(args.rounds)]
    batches = [64 * (args.calls // 64) / in_flight(worker.stdin, worker.stdout, batch, args.calls // 64, 4) for _ in range(args.rounds)]
    worker.stdin.close()
    code = worker.wait(10)

    def med(samples: list[list[float]], q: float) -> float:
        return statistics.median(pct(s, q) for s in samples)

    rows.append(("floor: a frame echoed by `cat`, p50 / p90 (µs)", f"{med(floor, 0.5):.0f} / {med(floor, 0.9):.0f}"))
    rows.append(("no-op call round trip, p50 / p90 (µs)", f"{med(calls, 0.5):.0f} / {med(calls, 0.9):.0f}"))
    rows.append(("worker's addition over the floor, p50 (µs)", f"{med(calls, 0.5) - med(floor, 0.5):.0f}"))
    rows.append(("worker CPU per no-op call (µs)", f"{statistics.median(cpus):.0f}"))
    rows.append(("no-op calls/s, 64 in flight", f"{statistics.median(pipelined):,.0f}"))
    rows.append(("identity items/s in batches of 64 (4 in flight)", f"{statistics.median(batches):,.0f}"))
    print(f"| fnworker, {args.calls} calls x {args.rounds} rounds, --slots {args.slots}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f} | |")
    print("|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    print(f"(worker exit code on EOF: {code})")


if __name__ == "__main__":
    main()
