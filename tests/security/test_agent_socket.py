"""The agent daemon's socket answers its owner only: another local user gets nothing out of it.

Two locks: the socket's directory (the head's base, 0700) and mode (0600) keep
another user from connecting; and if those were ever opened up, the daemon
still checks the peer's uid (SO_PEERCRED) and refuses with an error line. The
socket hands out job records, logs and cancels, and `submit` runs commands.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Iterator

import pytest
from channel_support import installed_agent, shutdown
from security_support import SecondUser, open_to_others

from skyhop.execution.agent import AgentClient
from skyhop.providers.runner import LocalRunner

# Run by the second user with the system python: connect, send a request, print what came back.
PROBE = """
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print(json.dumps({"connect": type(e).__name__})); sys.exit(0)
s.settimeout(20)
f = s.makefile("rb")
lines = [f.readline()]
if b"protocol" in lines[0]:  # greeted: ask for the queue
    s.sendall(json.dumps({"verb": "queue", "args": []}).encode() + b"\\n")
lines += f.readlines()
print(json.dumps({"lines": [line.decode(errors="replace").rstrip() for line in lines if line]}))
"""


@pytest.fixture
def agent(tmp_path) -> Iterator[AgentClient]:
    base = tmp_path / "node-0"
    base.mkdir()
    client = installed_agent(LocalRunner(), str(base))
    client.submit({"run": "echo secret"})
    try:
        yield client
    finally:
        shutdown(client)


def _probe(user: SecondUser, path: str) -> dict:
    done = user.run(["python3", "-c", PROBE, path])
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_another_user_cannot_reach_the_socket(agent: AgentClient, second_user: SecondUser) -> None:
    sock = os.path.join(agent.base, "agent.sock")
    open_to_others(Path(agent.base).parent)  # everything above the base, as a 0755 home would be
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(agent.base).st_mode) == 0o700
    assert _probe(second_user, sock) == {"connect": "PermissionError"}


def test_the_daemon_refuses_another_user_even_through_an_open_socket(agent: AgentClient, second_user: SecondUser) -> None:
    """The second lock alone: directory and socket opened to everyone, the peer check still refuses."""
    sock = os.path.join(agent.base, "agent.sock")
    open_to_others(Path(agent.base))
    os.chmod(sock, 0o666)
    answer = _probe(second_user, sock)
    lines = answer["lines"]
    assert len(lines) == 1 and json.loads(lines[0]) == {"error": "Only the cluster's owner may use this socket."}
    assert "secret" not in json.dumps(answer)
    assert agent.jobs()[0]["status"] in ("RUNNING", "SUCCEEDED")  # and the owner is served as ever
