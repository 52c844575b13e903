"""The controller's side of a service's load balancer process: start or adopt it, feed it routes, read its stats.

The load balancer (`python -m skyhop.serve.lb`) is a process of its own per service,
started in a session of its own so that it outlives an API server restart: the
endpoint keeps answering while no controller runs, and the next controller adopts
it (its pid, checked to be a load balancer of this service, is in the service row).
They talk through two files in the service folder, each replaced atomically:
`routes.json` (written here: the replicas to send requests to) and `lb-stats.json`
(written by the load balancer about once a second: arrivals per second, requests
waiting for a replica, in-flight requests per replica).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from skyhop.serve import files
from skyhop.serve.lb.routes import ROUTES_FILE
from skyhop.serve.lb.stats import STATS_FILE


@dataclass(frozen=True)
class RouteEntry:
    replica_id: int
    url: str
    accelerator: str | None = None


@dataclass(frozen=True)
class Stats:
    """What the load balancer last reported; empty when it has not written yet."""

    time: float = 0.0
    requests: tuple[tuple[float, int], ...] = ()  # (second, arrivals)
    waiting: int = 0
    in_flight: Mapping[int, int] | None = None

    def in_flight_of(self, replica_id: int) -> int:
        return (self.in_flight or {}).get(replica_id, 0)


def free_port(host: str) -> int:
    """A port nothing listens on now (the kernel's pick); whoever binds it next keeps it."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def port_free(host: str, port: int) -> bool:
    """Whether `port` on `host` can be bound now (nothing listens on it or holds it)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def accepting(host: str, port: int, wait_s: float) -> bool:
    """Whether something accepts connections on (host, port), trying for up to `wait_s` seconds."""
    target = "127.0.0.1" if host == "0.0.0.0" else "::1" if host == "::" else host
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with socket.create_connection((target, port), timeout=1.0):
                return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


def alive(pid: int | None, service: str) -> bool:
    """Whether `pid` is this service's load balancer (not a reused pid of something else)."""
    if not pid:
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"skyhop.serve.lb" in argv and str(files.service_dir(service)).encode() in argv


def start(service: str, host: str, port: int, policy: str | None, tls: tuple[str, str] | None = None) -> int:
    """Start the load balancer in a session of its own; its pid. Output goes to the service's LB log."""
    directory = files.service_dir(service)
    argv = [sys.executable, "-m", "skyhop.serve.lb", "--dir", str(directory), "--host", host, "--port", str(port),
            "--policy", policy or "round_robin", "--service", service]
    if tls is not None:
        argv += ["--tls-keyfile", tls[0], "--tls-certfile", tls[1]]
    log = os.open(files.lb_log(service), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True)
    finally:
        os.close(log)
    return process.pid


def ended(pid: int, service: str) -> str | None:
    """After the load balancer `pid` is gone: reap it if it was this process's child (no zombie is left), and
    return the last line it wrote to its log (it writes only errors), or None."""
    _reaped(pid)
    try:
        with files.lb_log(service).open("rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - 2048))
            lines = [line.strip() for line in log.read().decode(errors="replace").splitlines() if line.strip()]
    except OSError:
        return None
    return lines[-1][:300] if lines else None


def stop(pid: int | None, service: str, grace_s: float = 30.0) -> None:
    """SIGTERM (it finishes in-flight requests), then SIGKILL after `grace_s`; a no-op when it is gone."""
    if not alive(pid, service):
        return
    assert pid is not None
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not alive(pid, service) or _reaped(pid):
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _reaped(pid)


def _reaped(pid: int) -> bool:
    """Reap `pid` if it is our exited child (a zombie would still look alive)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return done == pid


def write_routes(service: str, routes: Sequence[RouteEntry], target_qps: float | Mapping[str, float] | None, *, hold: bool = True) -> None:
    """`hold`: whether requests finding no ready replica wait for one (false while none is coming)."""
    body = {
        "routes": [{"replica_id": r.replica_id, "url": r.url, "accelerator": r.accelerator, "weight": 1.0} for r in routes],
        "target_qps_per_replica": dict(target_qps) if isinstance(target_qps, Mapping) else target_qps,
        "hold": hold,
    }
    files.write_atomically(files.service_dir(service) / ROUTES_FILE, json.dumps(body, sort_keys=True).encode())


def read_stats(service: str) -> Stats:
    """The last stats; empty if none were written yet or the file is torn (never raises)."""
    try:
        raw: Any = json.loads((files.service_dir(service) / STATS_FILE).read_text(encoding="utf-8"))
        return Stats(
            time=float(raw.get("time") or 0.0),
            requests=tuple((float(t), int(n)) for t, n in raw.get("recent") or ()),
            waiting=int(raw.get("waiting") or 0),
            in_flight={int(k): int(v) for k, v in (raw.get("in_flight") or {}).items()},
        )
    except (OSError, ValueError, TypeError, AttributeError):
        return Stats()
