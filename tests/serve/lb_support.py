"""Real processes for the load-balancer tests: replicas (tests/serve/lb_replica.py) and `python -m skyhop.serve.lb`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from skyhop_agent import channel as unix_path

REPLICA_SCRIPT = Path(__file__).with_name("lb_replica.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], object], timeout: float = 10.0, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {check}")
        time.sleep(interval)


class Replica:
    """One replica process on a free loopback port."""

    def __init__(self, replica_id: int) -> None:
        self.replica_id = replica_id
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen([sys.executable, str(REPLICA_SCRIPT), str(self.port), str(replica_id)], stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None and self.process.stdout.readline().strip() == "ready"

    def route(self, **extra: object) -> dict[str, object]:
        return {"replica_id": self.replica_id, "url": self.url, "accelerator": None, "weight": 1.0, **extra}

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)


class LoadBalancer:
    """`python -m skyhop.serve.lb` on a free port, with its own 0700 directory."""

    def __init__(self, directory: Path, *args: str, routes: list[dict[str, object]] | None = None) -> None:
        self.dir = directory
        self.dir.mkdir(mode=0o700, exist_ok=True)
        if routes is not None:
            self.write_routes(routes)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stderr_path = directory.parent / f"lb-{self.port}.err"
        with open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "skyhop.serve.lb", "--dir", str(directory), "--host", "127.0.0.1", "--port", str(self.port), "--service", "svc", *args],
                stderr=stderr,
            )
        wait_until(self._started)

    def _started(self) -> bool:
        assert self.process.poll() is None, self.stderr()
        return self.accepting()

    def accepting(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def write_routes(self, routes: list[dict[str, object]], target_qps: object = None, **extra: object) -> None:
        """As the controller does: a whole new file renamed over the old one."""
        tmp = self.dir / ".routes.json.tmp"
        tmp.write_text(json.dumps({"routes": routes, "target_qps_per_replica": target_qps, **extra}))
        os.replace(tmp, self.dir / "routes.json")

    def stats(self) -> dict:
        return json.loads((self.dir / "lb-stats.json").read_text())

    def metrics(self) -> dict[str, float]:
        """The Prometheus samples from DIR/lb-metrics.sock, by `name{labels}`: current at once (the stats file lags up to 1 s)."""
        with socket.socket(socket.AF_UNIX) as sock:
            unix_path.connect(sock, str(self.dir / "lb-metrics.sock"))
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: lb\r\n\r\n")
            text = b"".join(iter(lambda: sock.recv(65536), b"")).decode()
        head, _, body = text.partition("\r\n\r\n")
        assert head.startswith("HTTP/1.1 200 OK"), head
        samples = {}
        for line in body.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                samples[name] = float(value)
        return samples

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def terminate(self, timeout: float = 40.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)
