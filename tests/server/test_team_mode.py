"""Team mode over real HTTP: a `--team` server process, its bootstrap admin, users' tokens and roles."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import postgres_db
import pytest
from helpers import run_cli

from server.api_http import send
from server.team_server import TeamServer, as_, start_team_server, stop_team_server


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory):
    """One team server for the module; each test makes users of its own."""
    home = tmp_path_factory.mktemp("team")
    proc, server = start_team_server(home)
    yield server
    stop_team_server(proc, server)


def name() -> str:
    return f"u{uuid.uuid4().hex[:8]}"


def make_user(server: TeamServer, role: str = "user") -> tuple[str, str]:
    """A new user of `role` and a token of theirs, made by the admin."""
    user = name()
    assert as_(server, server.token, "POST", "/api/v1/admin/users", {"id": user, "role": role}).status == 200
    made = as_(server, server.token, "POST", "/api/v1/admin/tokens", {"user": user, "name": "test"})
    assert made.status == 200, made.text
    return user, made.json["token"]


def whoami(server: TeamServer, token: str | None):
    return as_(server, token, "GET", "/api/v1/whoami")


def test_two_users_each_get_their_own_identity(team: TeamServer):
    alice, alice_token = make_user(team)
    fin, fin_token = make_user(team, "viewer")
    assert as_(team, team.token, "PUT", f"/api/v1/admin/workspaces/ml-{alice}/members/{alice}", {}).status == 404, "no such workspace yet"
    assert as_(team, team.token, "POST", "/api/v1/admin/workspaces", {"name": f"ml-{alice}"}).status == 200
    assert as_(team, team.token, "PUT", f"/api/v1/admin/workspaces/ml-{alice}/members/{alice}", {}).status == 200
    me = whoami(team, alice_token).json
    assert (me["user"], me["role"], me["workspaces"], me["mode"]) == (alice, "user", ["default", f"ml-{alice}"], "team")
    assert me["token_id"] == alice_token[5:17]
    assert (whoami(team, fin_token).json["user"], whoami(team, fin_token).json["role"]) == (fin, "viewer")
    assert whoami(team, team.token).json["user"] == "admin"
    assert whoami(team, None).status == 401
    assert whoami(team, "shp_u" + "a" * 12 + "_" + "b" * 32).status == 401


def test_non_admins_get_403(team: TeamServer):
    _, alice_token = make_user(team)
    _, fin_token = make_user(team, "viewer")
    for token in (alice_token, fin_token):
        refused = [
            as_(team, token, "POST", "/api/v1/admin/users", {"id": name()}),
            as_(team, token, "GET", "/api/v1/admin/users"),
            as_(team, token, "PUT", "/api/v1/admin/users/admin/role", {"role": "user"}),
            as_(team, token, "POST", "/api/v1/admin/users/admin/disable"),
            as_(team, token, "POST", "/api/v1/admin/tokens", {"user": "admin"}),
            as_(team, token, "GET", "/api/v1/admin/tokens?all_users=true"),
            as_(team, token, "POST", "/api/v1/admin/workspaces", {"name": name()}),
        ]
        assert [a.status for a in refused] == [403] * len(refused), [a.text for a in refused]
        assert all(a.json["code"] == "forbidden" and "admin role" in a.json["detail"] for a in refused)
    assert whoami(team, team.token).json["role"] == "admin", "nothing changed"


def test_a_revoked_token_is_refused_on_the_very_next_call(team: TeamServer):
    alice, alice_token = make_user(team)
    _, bob_token = make_user(team)
    second = as_(team, alice_token, "POST", "/api/v1/admin/tokens", {"name": "second"}).json
    assert second["user"] == alice
    own = as_(team, alice_token, "GET", "/api/v1/admin/tokens").json
    assert sorted(t["name"] for t in own) == ["second", "test"]
    assert all("token" not in t and "hash" not in t for t in own), "a listing never carries a secret or a hash"
    assert as_(team, bob_token, "DELETE", f"/api/v1/admin/tokens/{second['id']}").status == 404, "another user's token: as missing"
    assert whoami(team, second["token"]).status == 200
    assert as_(team, alice_token, "DELETE", f"/api/v1/admin/tokens/{second['id']}").json["revoked_at"] is not None
    assert whoami(team, second["token"]).status == 401
    assert whoami(team, alice_token).status == 200, "her other token still works"
    assert as_(team, team.token, "DELETE", f"/api/v1/admin/tokens/{alice_token[5:17]}").status == 200, "an admin revokes anyone's"
    assert whoami(team, alice_token).status == 401


def test_a_disabled_user_is_refused(team: TeamServer):
    bob, bob_token = make_user(team)
    assert whoami(team, bob_token).status == 200
    assert as_(team, team.token, "POST", f"/api/v1/admin/users/{bob}/disable").json["disabled_at"] is not None
    assert whoami(team, bob_token).status == 401
    listed = {u["id"]: u for u in as_(team, team.token, "GET", "/api/v1/admin/users").json}
    assert listed[bob]["disabled_at"] is not None, "the user stays, disabled"
    assert as_(team, team.token, "POST", "/api/v1/admin/tokens", {"user": bob}).status == 409
    assert as_(team, bob_token, "POST", f"/api/v1/admin/users/{bob}/enable").status == 401, "not by the disabled user"
    assert as_(team, team.token, "POST", f"/api/v1/admin/users/{bob}/enable").json["disabled_at"] is None
    assert whoami(team, bob_token).status == 200, "enabled again: the token works"
    _, carol_token = make_user(team)
    assert as_(team, carol_token, "POST", f"/api/v1/admin/users/{bob}/enable").status == 403


def test_secrets_stay_out_of_files_and_listings(team: TeamServer):
    alice, alice_token = make_user(team)
    home = Path(team.env["SKYHOP_HOME"])
    info = json.loads((home / "api" / "server.json").read_text())
    assert "token" not in info and info["mode"] == "team"
    listing = as_(team, team.token, "GET", "/api/v1/admin/tokens?all_users=true").text
    log = (team.home / "server.log").read_text() + "".join(p.read_text(errors="replace") for p in (home / "api").glob("*.log"))
    for secret in (team.token, alice_token):
        assert secret not in listing and secret[18:] not in log
    pepper = home / "api" / "token_pepper"
    assert stat.S_IMODE(pepper.stat().st_mode) == 0o600 and len(pepper.read_bytes()) == 32


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/api/v1/admin/users", {"id": "x" * 100_000}),
    ("POST", "/api/v1/admin/users", {"id": "Alice"}),
    ("POST", "/api/v1/admin/users", {"id": "a/b"}),
    ("POST", "/api/v1/admin/users", {"id": 7}),
    ("POST", "/api/v1/admin/users", {"id": ["a"]}),
    ("POST", "/api/v1/admin/users", {"id": "ok", "role": "root"}),
    ("POST", "/api/v1/admin/users", {"id": "ok", "user": "admin"}),
    ("POST", "/api/v1/admin/users", {"id": "ok", "display_name": "a\nb"}),
    ("POST", "/api/v1/admin/users", "[1, 2"),
    ("POST", "/api/v1/admin/users", "null"),
    ("PUT", "/api/v1/admin/users/%00/role", {"role": "user"}),
    ("PUT", "/api/v1/admin/users/admin/role", {"role": None}),
    ("POST", "/api/v1/admin/tokens", {"expires_in_s": -1}),
    ("POST", "/api/v1/admin/tokens", {"expires_in_s": "soon"}),
    ("POST", "/api/v1/admin/tokens", {"expires_in_s": 1e308}),
    ("POST", "/api/v1/admin/tokens", {"name": "x" * 10_000}),
    ("POST", "/api/v1/admin/tokens", {"user": "nobody-here"}),
    ("DELETE", "/api/v1/admin/tokens/..%2F..%2Fetc", None),
    ("DELETE", "/api/v1/admin/tokens/aaaaaaaaaaaa", None),
    ("GET", "/api/v1/admin/tokens?user=" + "x" * 5000, None),
    ("POST", "/api/v1/admin/workspaces", {"name": "default"}),
    ("DELETE", "/api/v1/admin/workspaces/default", None),
    ("PUT", "/api/v1/admin/workspaces/default/members/nobody-here", {"role": "owner"}),
])
def test_hostile_input_is_a_4xx(team: TeamServer, method, path, body):
    answer = as_(team, team.token, method, path, body)
    assert 400 <= answer.status < 500, (answer.status, answer.text[:500])
    assert set(answer.json) >= {"code", "detail"} and "Traceback" not in answer.text
    assert "x" * 200 not in answer.text, "the value sent is not echoed"


def test_single_user_mode_says_team_mode_is_off(shared_api_server):
    me = send(shared_api_server, "GET", "/api/v1/whoami").json
    assert (me["mode"], me["role"], me["token_id"]) == ("single-user", "admin", None)
    answer = send(shared_api_server, "POST", "/api/v1/admin/users", json_body={"id": "alice"})
    assert answer.status == 409 and "Team mode is off" in answer.json["detail"]
    assert send(shared_api_server, "GET", "/api/v1/admin/tokens").status == 409


def test_a_single_user_server_refuses_a_public_address(isolated_home: Path):
    done = subprocess.run([sys.executable, "-m", "skyhop.server", "--host", "0.0.0.0"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "use" in done.stderr and "--team" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, "one paragraph"
    assert not (isolated_home / ".skyhop" / "api" / "server.json").exists()


def test_team_server_on_postgresql(tmp_path: Path):
    """The token lookup (a join on PostgreSQL) through a real server; revocation at once there too."""
    for url in postgres_db.fresh_database():
        proc, server = start_team_server(tmp_path, "--db", url)
        try:
            user, token = make_user(server)
            assert whoami(server, token).json["user"] == user
            assert as_(server, server.token, "DELETE", f"/api/v1/admin/tokens/{token[5:17]}").status == 200
            assert whoami(server, token).status == 401
            from skyhop.state.store import StateStore
            from skyhop.state.users import Users

            with StateStore(url) as store:
                assert {u.id for u in Users(store, b"x" * 32).list_users()} == {"admin", user}, "the server wrote to PostgreSQL"
        finally:
            stop_team_server(proc, server)


def test_a_password_in_db_is_refused(isolated_home: Path):
    done = run_cli(isolated_home, "api", "start", "--team", "--foreground", "--db", "postgresql+psycopg://u:hunter2@db/x")
    assert done.returncode == 2 and "SKYHOP_DB_URL" in done.stderr and "Traceback" not in done.stderr


def test_a_second_host_with_a_pepper_of_its_own_refuses_to_start(tmp_path: Path):
    """Another host (another SKYHOP_HOME) on the same database: with a fresh pepper it would refuse every token
    made through the first, silently. It says so and starts once it has the first host's pepper."""
    import shutil

    from helpers import subprocess_env

    db = f"sqlite:///{tmp_path / 'shared.db'}"
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    proc, server = start_team_server(first, SKYHOP_DB_URL=db)
    try:
        refused = subprocess.run([sys.executable, "-m", "skyhop.server", "--team", "--port", "0"], env=subprocess_env(second, SKYHOP_DB_URL=db),
                                 capture_output=True, text=True, timeout=60)
        assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
        assert "already holds tokens keyed by another one" in refused.stderr and "token_pepper" in refused.stderr
        made = second / ".skyhop" / "api" / "token_pepper"
        assert not made.exists(), "its own pepper is not kept: the next start would take it as the database's"
        shutil.copy2(first / ".skyhop" / "api" / "token_pepper", made)
        proc_b = subprocess.Popen([sys.executable, "-m", "skyhop.server", "--team", "--port", "0"], env=subprocess_env(second, SKYHOP_DB_URL=db),
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            assert proc_b.stdout is not None
            line = proc_b.stdout.readline()  # an admin exists: no bootstrap token, the ready line first
            assert "listening on http://" in line, line
            url = line.split("listening on ")[1].strip()
            second_server = TeamServer(url, server.token, proc_b.pid, second, {}, second / "out")
            assert as_(second_server, server.token, "GET", "/api/v1/whoami").status == 200, "the first host's token works on the second"
        finally:
            proc_b.terminate()
            proc_b.wait(timeout=60)
    finally:
        stop_team_server(proc, server)


def test_a_budget_for_a_user_or_workspace_that_does_not_exist_is_refused(team: TeamServer):
    """`budgets set --user alcie` would otherwise be a budget on nobody while alice spends without a limit."""
    alice, alice_token = make_user(team)
    for scope, subject in (("user", f"x{alice}"), ("workspace", f"nows{uuid.uuid4().hex[:6]}")):
        answer = as_(team, team.token, "POST", "/api/v1/budgets", {"scope": scope, "subject": subject, "monthly_limit": 5})
        assert answer.status == 404 and "would limit nobody" in answer.json["detail"], answer.text
    assert as_(team, team.token, "POST", "/api/v1/budgets", {"scope": "user", "subject": alice, "monthly_limit": 5}).status == 200
    assert as_(team, team.token, "POST", "/api/v1/budgets", {"scope": "workspace", "subject": "default", "monthly_limit": 5000}).status == 200
    refused = as_(team, alice_token, "POST", "/api/v1/budgets", {"scope": "user", "subject": "nobody-at-all", "monthly_limit": 5})
    assert refused.status == 403, "a non-admin learns nothing about which users exist"
    assert as_(team, team.token, "DELETE", "/api/v1/budgets/workspace/default").status == 200

