"""Issue 13's acceptance, end to end: one team server of two processes behind one port, on PostgreSQL.

Everything is real and driven through the CLI as each person would: `skyhop api start --team
--workers 2 --db postgresql://...` (the bootstrap admin token read from its output), the admin making
two users and their tokens, alice launching on the local provider and bob on an SSH node pool of
namespace hosts, each seeing only their own, the admin seeing both, bob's token revoked and refused
on his very next call, and one server process killed with -9 while alice's launch runs: the other
process adopts it and it finishes; nothing is lost and nothing is left behind.
"""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import postgres_db
import pytest
from e2e_support import pid_gone, wait_for
from helpers import run_cli

from skyhop.state.store import StateStore

pytestmark = pytest.mark.slow

CONFIG = """\
jobs:
  lease_seconds: 6
api_server:
  drain_seconds: 1
  drain_notice_seconds: 1
"""


@pytest.fixture
def pg_url():
    yield from postgres_db.fresh_database()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    from ssh.conftest import namespace_hosts

    yield from namespace_hosts(tmp_path_factory, 1)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _owner_pid(owner: str | None) -> int | None:
    return int(owner.split(":")[1]) if owner else None


def test_two_users_two_processes_one_port_on_postgresql(isolated_home: Path, pg_url: str, lab) -> None:
    if os.geteuid() != 0:
        pytest.skip("SSH namespace hosts need root (CI runs as root)")
    home = isolated_home
    (home / ".skyhop").mkdir(exist_ok=True)
    (home / ".skyhop" / "config.yaml").write_text(CONFIG)
    started = run_cli(home, "api", "start", "--team", "--workers", "2", "--port", "0", "--db", pg_url)
    assert started.returncode == 0, started.stderr
    admin_token = re.search(r"shp_\S+", started.stdout)
    url = re.search(r"(http://127\.0\.0\.1:\d+)", started.stdout)
    assert admin_token and url, started.stdout
    parent = int(json.loads((home / ".skyhop" / "api" / "server.json").read_text())["pid"])
    wait_for(lambda: len(_children(parent)) == 2, 60, "two server processes")

    def as_(token: str, *args: str):
        return run_cli(home, *args, SKYHOP_API_SERVER_URL=url.group(1), SKYHOP_API_TOKEN=token)

    admin = admin_token.group(0)
    tokens = {}
    for user in ("alice", "bob"):
        assert as_(admin, "users", "create", user).returncode == 0
        made = as_(admin, "tokens", "create", "--user", user, "--output", "json")
        assert made.returncode == 0, made.stderr
        tokens[user] = json.loads(made.stdout)
    host = lab[0]
    added = as_(admin, "ssh", "add", "lab", host.ip, "--user", "root", "--identity-file", host.identity_file)
    assert added.returncode == 0, added.stderr
    refused = as_(tokens["alice"]["token"], "ssh", "add", "lab2", host.ip)
    assert refused.returncode != 0 and "admin role" in refused.stderr and "Traceback" not in refused.stderr

    # Alice on the local provider, detached, with a job that waits for the test; bob on the SSH pool.
    gate = home / "gate"
    alice, bob = tokens["alice"]["token"], tokens["bob"]["token"]
    launching = run_cli(home, "launch", "-y", "-c", "alice-dev", "--infra", "local", "--async",
                        f"until [ -e {gate} ]; do sleep 0.1; done; echo alice done",
                        SKYHOP_API_SERVER_URL=url.group(1), SKYHOP_API_TOKEN=alice)
    assert launching.returncode == 0, launching.stderr
    request_id = re.search(r"\b([0-9a-f]{32})\b", launching.stdout + launching.stderr)
    assert request_id, launching.stdout + launching.stderr
    bobs = as_(bob, "launch", "-y", "-c", "bob-ssh", "--infra", "ssh/lab", "echo bob here")
    assert bobs.returncode == 0, bobs.stderr
    assert "bob here" in bobs.stdout + bobs.stderr

    def names(token: str, *flags: str) -> set[str]:
        listed = as_(token, "status", "--output", "json", *flags)
        assert listed.returncode == 0, listed.stderr
        return {row["name"] for row in json.loads(listed.stdout)}

    assert names(bob) == {"bob-ssh"}
    assert names(alice) == {"alice-dev"}
    assert names(admin, "-u") == {"alice-dev", "bob-ssh"}
    nosy = as_(alice, "status", "-u")
    assert nosy.returncode != 0 and "admin or viewer" in nosy.stderr and "Traceback" not in nosy.stderr
    assert as_(alice, "logs", "bob-ssh").returncode != 0  # another user's cluster is not there for her

    # kill -9 of the process that runs alice's launch: the other adopts it, and it finishes.
    with StateStore(pg_url) as store:
        owner = wait_for(lambda: _owner_pid(store.get_request(request_id.group(1)).server_owner), 60, "the launch's owner")
        assert owner in _children(parent)
        os.kill(owner, signal.SIGKILL)
        wait_for(lambda: pid_gone(owner), 30, "the killed process gone")
        assert names(alice) == {"alice-dev"}  # the other process answers at once
        wait_for(lambda: _owner_pid(store.get_request(request_id.group(1)).server_owner) not in (None, owner), 60, "the launch adopted")
        gate.touch()
        followed = as_(alice, "api", "logs", request_id.group(1))
        assert followed.returncode == 0, followed.stderr
        assert "alice done" in followed.stdout + followed.stderr
        assert store.get_request(request_id.group(1)).status == "SUCCEEDED"

    # Bob's token revoked: refused at his very next call, by whichever process answers.
    assert as_(admin, "tokens", "revoke", tokens["bob"]["id"], "-y").returncode == 0
    for _ in range(4):
        gone = as_(bob, "status")
        assert gone.returncode != 0 and "Traceback" not in gone.stderr, gone.stdout
    # The admin takes bob's cluster down; alice takes hers.
    assert as_(admin, "down", "-y", "bob-ssh").returncode == 0
    assert as_(alice, "down", "-y", "alice-dev").returncode == 0
    assert names(admin, "-u") == set()
    stopped = run_cli(home, "api", "stop")
    assert stopped.returncode == 0, stopped.stderr
    wait_for(lambda: pid_gone(parent), 30, "the server gone")
