"""`api_server_access: true` on a team server: the job's token acts for its launcher and dies with its cluster.

A real team server, real CLI processes (the user's and the job's own), local clusters.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path

import pytest
from helpers import run_cli
from state.test_users import PEPPER, shared_store  # noqa: F401  (a fixture: SQLite and PostgreSQL)

from server.team_server import TeamServer, as_
from server.test_team_mode import make_user, team  # noqa: F401  (a fixture: one team server for the module)
from skyhop.server.auth.tokens import TeamTokens
from skyhop.state.records import ClusterRecord
from skyhop.state.store import StateStore
from skyhop.state.users import Users

#: Run by the job while its nested launch runs: no process's command line holds the job's token.
SCAN = """\
import os, pathlib, time
token = os.environ["SKYHOP_API_TOKEN"].encode()
seen = False
for _ in range(20):
    for cmdline in pathlib.Path("/proc").glob("[0-9]*/cmdline"):
        try:
            seen = seen or token in cmdline.read_bytes()
        except OSError:
            pass
    time.sleep(0.05)
print("TOKEN-IN-CMDLINE" if seen else "cmdline-clean")
"""

#: A task with access whose run gets PY (this interpreter, for the CLI) and OUT (where it leaves what the test reads).
HEAD = """\
api_server_access: true
envs:
  PY: {python}
  OUT: {out}
run: |
  umask 077
"""

NESTING = HEAD + """\
  printf %s "$SKYHOP_API_TOKEN" > "$OUT/token"
  "$PY" -m skyhop.cli.main api info --output json > "$OUT/whoami.json"
  "$PY" -m skyhop.cli.main launch -y -c {nested} "echo nested-ran" &
  "$PY" "$OUT/scan.py"
  wait $! && echo nested-done
"""

KEEP_TOKEN = HEAD + """\
  printf %s "$SKYHOP_API_TOKEN" > "$OUT/token"
"""

WHOAMI = HEAD + """\
  "$PY" -m skyhop.cli.main api info --output json > "$OUT/whoami.json"
"""


def as_user(team: TeamServer, token: str, *args: str):
    done = run_cli(team.home, *args, SKYHOP_API_SERVER_URL=team.url, SKYHOP_API_TOKEN=token)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_a_job_acts_for_its_launcher_and_its_token_dies_with_the_cluster(team: TeamServer, tmp_path: Path):
    alice, alice_token = make_user(team)
    parent, nested = f"p{uuid.uuid4().hex[:6]}", f"n{uuid.uuid4().hex[:6]}"
    (tmp_path / "scan.py").write_text(SCAN)
    task = tmp_path / "nest.yaml"
    task.write_text(NESTING.format(python=sys.executable, out=tmp_path, nested=nested))
    try:
        launched = as_user(team, alice_token, "launch", "-y", "-c", parent, str(task))
        assert launched.returncode == 0, launched.stdout + launched.stderr
        assert "nested-ran" in launched.stdout and "nested-done" in launched.stdout
        assert "cmdline-clean" in launched.stdout, "the job's token was in some process's command line"
        job_token = (tmp_path / "token").read_text()
        assert job_token.startswith("shp_s") and job_token != alice_token
        inside = json.loads((tmp_path / "whoami.json").read_text())
        assert (inside["user"], inside["acts_for"], inside["mode"]) == (alice, alice, "team")
        assert inside["url"] == team.url and inside["token_id"] != alice_token[5:17]

        listed = {c["name"]: c for c in json.loads(as_user(team, alice_token, "status", "--output", "json").stdout)}
        assert set(listed) == {parent, nested} and {c["user"] for c in listed.values()} == {alice}
        assert as_(team, job_token, "POST", "/api/v1/admin/tokens", {"name": "escape"}).status == 403, "a job's token makes no tokens"
        assert as_(team, job_token, "GET", "/api/v1/whoami").status == 200, "alive while its cluster is"

        _assert_token_nowhere(team, alice_token, job_token)
        assert as_user(team, alice_token, "down", "-y", parent).returncode == 0
        assert as_(team, job_token, "GET", "/api/v1/whoami").status == 401, "refused as soon as its cluster is gone"
        tokens = {t["id"]: t for t in as_(team, alice_token, "GET", "/api/v1/admin/tokens").json}
        assert tokens[job_token[5:17]]["revoked_at"] is not None and tokens[job_token[5:17]]["scope"]["cluster"] == parent
        assert as_(team, alice_token, "GET", "/api/v1/whoami").status == 200, "the user's own token is untouched"
    finally:
        as_user(team, alice_token, "down", "-y", parent, nested)


def test_a_job_token_opens_no_dashboard_session_and_revokes_only_itself(team: TeamServer, tmp_path: Path):
    """A session is re-checked for revocation only, not for its job's cluster: one made from a job's token would outlive
    the job (12 hours), and an admin's job could then make lasting tokens on the admin page."""
    from urllib.parse import urlencode

    from server.api_http import send

    _, alice_token = make_user(team)
    cluster = f"d{uuid.uuid4().hex[:6]}"
    task = tmp_path / "keep.yaml"
    task.write_text(KEEP_TOKEN.format(python=sys.executable, out=tmp_path))
    try:
        launched = as_user(team, alice_token, "launch", "-y", "-c", cluster, str(task))
        assert launched.returncode == 0, launched.stdout + launched.stderr
        job_token = (tmp_path / "token").read_text()
        assert as_(team, job_token, "GET", "/api/v1/whoami").status == 200, "alive while its cluster is"
        code = as_(team, job_token, "POST", "/api/v1/dashboard/code")
        assert code.status == 403 and "job's service token" in code.json["detail"], code.text
        login = send(team, "POST", "/dashboard/login", urlencode({"token": job_token}),
                     headers={"Content-Type": "application/x-www-form-urlencoded"}, auth=False)
        assert login.status == 403 and "set-cookie" not in login.headers, login.text
        assert as_(team, alice_token, "POST", "/api/v1/dashboard/code").status == 200, "the user's own token still may"
        personal = as_(team, job_token, "DELETE", f"/api/v1/admin/tokens/{alice_token[5:17]}")
        assert personal.status == 404, "a job revokes none of its launcher's tokens"
        assert as_(team, alice_token, "GET", "/api/v1/whoami").status == 200
        assert as_(team, job_token, "DELETE", f"/api/v1/admin/tokens/{job_token[5:17]}").status == 200, "but may end its own"
    finally:
        as_user(team, alice_token, "down", "-y", cluster)


def test_an_admins_job_does_not_wield_the_admin_role(team: TeamServer, tmp_path: Path):
    """The job acts for its admin on clusters, but changes nothing that would outlive it: roles, users, budgets."""
    bob, _ = make_user(team)
    cluster = f"a{uuid.uuid4().hex[:6]}"
    task = tmp_path / "keep.yaml"
    task.write_text(KEEP_TOKEN.format(python=sys.executable, out=tmp_path))
    try:
        launched = as_user(team, team.token, "launch", "-y", "-c", cluster, str(task))
        assert launched.returncode == 0, launched.stdout + launched.stderr
        job_token = (tmp_path / "token").read_text()
        for method, path, body in (
            ("PUT", f"/api/v1/admin/users/{bob}/role", {"role": "admin"}),
            ("POST", "/api/v1/admin/users", {"id": f"m{uuid.uuid4().hex[:6]}", "role": "admin"}),
            ("POST", f"/api/v1/admin/users/{bob}/disable", {}),
            ("POST", "/api/v1/budgets", {"scope": "user", "subject": bob, "monthly_limit": 5}),
            ("POST", "/api/v1/admin/workspaces", {"name": f"w{uuid.uuid4().hex[:6]}"}),
        ):
            answer = as_(team, job_token, method, path, body)
            assert answer.status == 403 and "admin's own token" in answer.json["detail"], (path, answer.text)
        assert as_(team, job_token, "GET", "/api/v1/clusters?all_users=true").status == 200, "it still reads as its admin"
        roles = {u["id"]: u for u in as_(team, team.token, "GET", "/api/v1/admin/users").json}
        assert roles[bob]["role"] == "user" and roles[bob]["disabled_at"] is None
    finally:
        as_user(team, team.token, "down", "-y", cluster)


def _assert_token_nowhere(team: TeamServer, *tokens: str) -> None:
    """Not in the stored requests (the listing and the state database's bytes), the API's answers, the logs or any argv."""
    home = Path(team.env["SKYHOP_HOME"])
    listing = as_(team, team.token, "GET", "/api/v1/requests?all_users=true").text + as_user(team, tokens[0], "api", "status", "--output", "json").stdout
    stored = b"".join(p.read_bytes() for p in home.glob("state.db*"))
    logs = (team.home / "server.log").read_text(errors="replace") + "".join(p.read_text(errors="replace") for p in (home / "api").rglob("*.log"))
    cmdlines = b"".join(p.read_bytes() for p in Path("/proc").glob("[0-9]*/cmdline") if _readable(p))
    for token in tokens:
        assert token not in listing and token.encode() not in stored and token not in logs and token.encode() not in cmdlines


def _readable(path: Path) -> bool:
    try:
        path.read_bytes()
    except OSError:
        return False
    return True


def test_a_managed_job_gets_a_working_token(team: TeamServer, tmp_path: Path):
    alice, alice_token = make_user(team)
    task = tmp_path / "job.yaml"
    task.write_text(WHOAMI.format(python=sys.executable, out=tmp_path))
    done = as_user(team, alice_token, "jobs", "launch", "-y", "-n", "nest", str(task))
    assert done.returncode == 0, done.stdout + done.stderr
    inside = json.loads((tmp_path / "whoami.json").read_text())
    assert (inside["user"], inside["acts_for"]) == (alice, alice)
    scoped = [t for t in as_(team, alice_token, "GET", "/api/v1/admin/tokens").json if t["kind"] == "service"]
    assert [t["id"] for t in scoped] == [inside["token_id"]] and scoped[0]["scope"]["cluster"].startswith("nest-")


def test_a_job_token_is_refused_once_its_cluster_is_gone_or_launched_anew(shared_store: StateStore):
    """On both backends: the scope's launched_at survives the JSON column exactly, and another launch of the name is not this one."""
    users = Users(shared_store, PEPPER)
    alice, name = f"u{uuid.uuid4().hex[:8]}", f"c{uuid.uuid4().hex[:8]}"
    users.create_user(alice)
    tokens = TeamTokens(users, shared_store)
    shared_store.add_cluster(ClusterRecord(name=name, provider="p", region="r", user=alice, workspace=None))
    first = tokens.mint_for_job(shared_store.get_cluster(name))
    caller = tokens.principal(first)
    assert caller is not None and (caller.user, caller.acts_for, caller.workspace) == (alice, alice, "default")
    shared_store.remove_cluster(name)
    shared_store.add_cluster(ClusterRecord(name=name, provider="p", region="r", user=alice, launched_at=time.time() + 1))
    second = tokens.mint_for_job(shared_store.get_cluster(name))
    assert tokens.principal(first) is None, "another launch of the same name"
    assert users.get_token(first[5:17]).revoked_at is not None
    assert tokens.principal(second) is not None
    personal = users.mint(alice).secret
    shared_store.remove_cluster(name)
    assert tokens.principal(second) is None and tokens.principal(personal) is not None, "only the job's token dies with its cluster"


def test_the_address_jobs_get():
    from skyhop.errors import ConfigError
    from skyhop.server.job_access import JobAccess, NoAccessForJobs
    from skyhop.server.settings import from_config

    access = JobAccess(lambda record: "tok")
    with pytest.raises(NoAccessForJobs):
        access.grant(None)  # not bound yet: no address to give
    access.bind("0.0.0.0", 8080)
    given = access.grant(None)
    assert given["SKYPILOT_API_SERVER_ENDPOINT"] == given["SKYHOP_API_SERVER_URL"] == "http://127.0.0.1:8080"
    assert given["SKYHOP_API_TOKEN"] == given["SKYPILOT_SERVICE_ACCOUNT_TOKEN"] == "tok"
    public = from_config({"public_url": "https://skyhop.example.com/"}).public_url
    assert public == "https://skyhop.example.com" and from_config(None).public_url is None
    behind = JobAccess(lambda record: "tok", public)
    behind.bind("::", 8080)
    assert behind.url == public
    for bad in ("skyhop.example.com", "ftp://h", "https://u:p@h", "http://h:port", 7, "https://h/?q=1"):
        with pytest.raises(ConfigError, match="public_url"):
            from_config({"public_url": bad})
