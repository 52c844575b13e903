"""`--workers N`: N full server processes on one port (SO_REUSEPORT), watched by a small parent.

Each worker is a whole API server (`python -m skyhop.server --worker`): its
own controllers claiming leases, its own request executor and adoption sweep,
its own socket bound to the same address with SO_REUSEPORT, so the kernel
spreads new connections over the workers and a worker that dies takes only
its own connections with it. Not uvicorn's `--workers`: there the parent owns
the one socket and the children are anonymous, where here every process is a
lease owner in its own name (`host:pid:start`), and what one leaves behind is
adopted by the others through the database, not by the parent.

The parent holds the port (a bound, non-listening socket: port 0 becomes a
real one), hands each worker the local token on a pipe (never argv or the
environment), waits until every worker listens, publishes `server.json`
with its own pid, starts a new worker when one dies, and on SIGTERM/SIGINT
passes the signal on and waits for the workers to drain.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger("skyhop.server")

START_TIMEOUT_S = 120.0
#: A worker that dies before it listened, or sooner than this after its start, is restarted only after
#: `RESTART_PAUSE_S` (a crash loop must not spin); one that served a while is replaced at once.
QUICK_DEATH_S = 3.0
RESTART_PAUSE_S = 5.0


def reuse_port_socket(host: str, port: int, *, listen: bool) -> socket.socket:
    """A TCP socket bound to `host:port` with SO_REUSEPORT (and listening, when `listen`)."""
    return _bound(host, port, reuse_port=True, listen=listen)


def listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """The server's listening socket; with `reuse_port`, one of several processes' on the same port."""
    return _bound(host, port, reuse_port=reuse_port, listen=True)


def _bound(host: str, port: int, *, reuse_port: bool, listen: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    if listen:
        sock.listen(128)
    sock.set_inheritable(False)
    return sock


class Worker:
    """One worker process; `output` takes its stdout and stderr (default: the parent's); `token` is a single-user
    server's (empty for a team server's), `extra` more arguments (`--team`)."""

    def __init__(self, host: str, port: int, token: str, output: Any = None, extra: Sequence[str] = ()) -> None:
        ready_read, ready_write = os.pipe()
        command = [sys.executable, "-m", "skyhop.server", "--host", host, "--port", str(port), *extra, "--worker", "--ready-fd", str(ready_write)]
        self.started_at = time.monotonic()
        # A session of its own: a terminal's Ctrl-C (sent to the whole foreground group) reaches the parent only,
        # which passes one SIGTERM on; a second signal would cut the worker's drain short.
        self.process = subprocess.Popen(
            # Nothing on the parent's stdout: a team server's stdout is read by `api start` up to its ready line only.
            command, stdin=subprocess.PIPE, stdout=output if output is not None else sys.stderr.fileno(), stderr=output,
            pass_fds=(ready_write,), close_fds=True, start_new_session=True,
        )
        os.close(ready_write)
        self.ready_fd = ready_read
        self.ready = False
        assert self.process.stdin is not None
        self.process.stdin.write(token.encode() + b"\n")
        self.process.stdin.close()

    def poll_ready(self) -> None:
        """Note, without waiting, whether the worker has said it listens."""
        if self.ready or self.ready_fd < 0:
            return
        readable, _, _ = select.select([self.ready_fd], [], [], 0)
        if readable:
            self.ready = bool(os.read(self.ready_fd, 1))
            self.close_ready()

    def close_ready(self) -> None:
        if self.ready_fd >= 0:
            os.close(self.ready_fd)
            self.ready_fd = -1


def wait_ready(workers: list[Worker], timeout_s: float = START_TIMEOUT_S) -> None:
    """Until each worker wrote to its ready pipe (it listens and resumed its share); raises if one died first."""
    waiting = {w.ready_fd: w for w in workers}
    deadline = time.monotonic() + timeout_s
    while waiting:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"{len(waiting)} API server worker(s) did not start within {timeout_s:g} s")
        readable, _, _ = select.select(list(waiting), [], [], min(left, 0.5))
        for fd in readable:
            worker = waiting.pop(fd)
            got = os.read(fd, 1)
            worker.ready = bool(got)
            worker.close_ready()
            if not got:
                raise RuntimeError(f"API server worker {worker.process.pid} exited before it listened (code {worker.process.wait()})")


def supervise(host: str, port: int, count: int, token: str, publish: Callable[[int], None], extra: Sequence[str] = ()) -> int:
    """Run `count` workers on `host:port` until SIGTERM/SIGINT; `publish(port)` once all listen. Returns the exit code."""
    holder = reuse_port_socket(host, port, listen=False)
    port = holder.getsockname()[1]
    stopping = False

    def stop(_sig: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    workers = [Worker(host, port, token, extra=extra) for _ in range(count)]
    try:
        wait_ready(workers)
    except (TimeoutError, RuntimeError) as error:
        log.error("%s", error)
        _stop_all(workers)
        return 1
    publish(port)
    log.warning("API server: %d worker processes on %s:%d (pids %s)", count, host, port, ", ".join(str(w.process.pid) for w in workers))
    restart_at: dict[int, float] = {}
    while not stopping:
        time.sleep(0.2)
        for index, worker in enumerate(workers):
            worker.poll_ready()
            if worker.process.poll() is None or stopping:
                continue
            # One that never listened is failing at start (a bad config, the database away): not at once again.
            crashing = not worker.ready or time.monotonic() - worker.started_at < QUICK_DEATH_S
            when = restart_at.setdefault(index, time.monotonic() + (RESTART_PAUSE_S if crashing else 0.0))
            if time.monotonic() >= when:
                log.warning("API server worker %d exited (code %s); starting another", worker.process.pid, worker.process.returncode)
                restart_at.pop(index)
                worker.close_ready()
                workers[index] = Worker(host, port, token, extra=extra)
    _stop_all(workers)
    holder.close()
    return 0


def _stop_all(workers: list[Worker]) -> None:
    """SIGTERM each worker (each drains: server/drain.py) and wait for all."""
    for worker in workers:
        if worker.process.poll() is None:
            worker.process.send_signal(signal.SIGTERM)
    for worker in workers:
        worker.process.wait()
        worker.close_ready()


def die_with_parent() -> None:
    """Linux: get SIGTERM when the parent (the supervisor) dies, so no worker outlives it unsupervised."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
