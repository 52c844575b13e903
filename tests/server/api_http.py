"""A real API server process for tests, and raw HTTP to it: any bytes, any method, status and text back."""

from __future__ import annotations

import http.client
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers import subprocess_env


@dataclass(frozen=True)
class Server:
    url: str
    token: str
    pid: int
    home: Path
    env: dict[str, str]

    @property
    def host_port(self) -> tuple[str, int]:
        host, port = self.url.removeprefix("http://").split(":")
        return host, int(port)


def start_server(home: Path, config: str | None = None, **extra_env: str) -> tuple[subprocess.Popen, Server]:
    env = subprocess_env(home, **extra_env)
    skyhop_home = Path(env["SKYHOP_HOME"])
    skyhop_home.mkdir(parents=True, exist_ok=True)
    if config is not None:
        (skyhop_home / "config.yaml").write_text(config)
    info_file = skyhop_home / "api" / "server.json"
    log = open(home / "server.log", "ab")
    # The suite's server zygote when there is one (tests/zygote.py): a fork that runs the server as `-m` would.
    command = shlex.split(os.environ.get("SKYHOP_API_SERVER_COMMAND", "")) or [sys.executable, "-m", "skyhop.server"]
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while not info_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.terminate()  # a zygote's stand-in passes it on to the server it started (SIGKILL it could not)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise AssertionError(f"the API server did not start:\n{(home / 'server.log').read_text()}")
        time.sleep(0.05)
    info = json.loads(info_file.read_text())
    return proc, Server(info["url"], info["token"], info["pid"], home, env)


def stop_server(proc: subprocess.Popen, server: Server, grace: float = 20) -> None:
    """SIGTERM to the server itself; `proc` (the server, or the zygote's stand-in for it) ends when it has."""
    if proc.poll() is None:
        try:
            os.kill(server.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            # The server itself: a zygote's stand-in passes SIGTERM on but dies alone of a SIGKILL.
            for pid in (server.pid, proc.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.wait()


@dataclass(frozen=True)
class Answer:
    status: int
    text: str
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case

    @property
    def json(self) -> Any:
        return json.loads(self.text)


def send(server, method: str, path: str, body: bytes | str | None = None, *, json_body: Any = None, headers: dict[str, str] | None = None, auth: bool = True, timeout: float = 60) -> Answer:
    host, port = server.host_port
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    sent = dict(headers or {})
    if auth:
        sent.setdefault("Authorization", f"Bearer {server.token}")
    if json_body is not None:
        body = json.dumps(json_body)
        sent.setdefault("Content-Type", "application/json")
    try:
        conn.request(method, path, body=body.encode() if isinstance(body, str) else body, headers=sent)
        response = conn.getresponse()
        return Answer(response.status, response.read().decode(errors="replace"), {k.lower(): v for k, v in response.getheaders()})
    finally:
        conn.close()
