"""A real team-mode API server process for tests (`python -m skyhop.server --team`), and calls to it as a given token."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers import subprocess_env

from server.api_http import Answer, send, stop_server


@dataclass(frozen=True)
class TeamServer:
    url: str
    token: str  # the bootstrap admin's, as printed once on stdout
    pid: int
    home: Path
    env: dict[str, str]
    stdout: Path

    @property
    def host_port(self) -> tuple[str, int]:
        host, port = self.url.removeprefix("http://").split(":")
        return host, int(port)


def start_team_server(home: Path, *args: str, **env: str) -> tuple[subprocess.Popen, TeamServer]:
    """Start one (through the suite's server zygote when there is one) and wait for its ready line."""
    environment = subprocess_env(home, **env)
    Path(environment["SKYHOP_HOME"]).mkdir(parents=True, exist_ok=True)
    out = home / "team-server.out"
    command = shlex.split(os.environ.get("SKYHOP_API_SERVER_COMMAND", "")) or [sys.executable, "-m", "skyhop.server"]
    with open(out, "wb") as stdout, open(home / "server.log", "ab") as log:
        proc = subprocess.Popen([*command, "--team", "--host", "127.0.0.1", "--port", "0", *args], env=environment, stdout=stdout, stderr=log)
    deadline = time.monotonic() + 60
    while True:
        text = out.read_text()
        ready = re.search(r"listening on (http://\S+)", text)
        if ready:
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.terminate()
            raise AssertionError(f"the team server did not start:\n{text}\n{(home / 'server.log').read_text()}")
        time.sleep(0.05)
    token = re.search(r"shp_\S+", text)
    assert token is not None, f"no bootstrap token printed:\n{text}"
    pid = int(json.loads((Path(environment["SKYHOP_HOME"]) / "api" / "server.json").read_text())["pid"])
    return proc, TeamServer(ready.group(1), token.group(0), pid, home, environment, out)


def stop_team_server(proc: subprocess.Popen, server: TeamServer) -> None:
    stop_server(proc, server)  # type: ignore[arg-type]  # it needs the pid only


def as_(server: TeamServer, token: str | None, method: str, path: str, body: Any = None, **kwargs: Any) -> Answer:
    """One call to the server presenting `token` (None: no Authorization header)."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    if body is not None and not isinstance(body, (str, bytes)):
        return send(server, method, path, json_body=body, headers=headers, auth=False, **kwargs)
    return send(server, method, path, body, headers={**headers, "Content-Type": "application/json"}, auth=False, **kwargs)
