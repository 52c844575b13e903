"""The team-mode CLI as a user runs it: `api start --team`, `api login` at a terminal, `api info`, users and tokens."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import reachable_for_others, run_cli, subprocess_env
from pty_terminal import Terminal


def start_team(home: Path) -> tuple[str, str]:
    started = run_cli(home, "api", "start", "--team", "--port", "0")
    assert started.returncode == 0, started.stderr
    token = re.search(r"shp_\S+", started.stdout)
    url = re.search(r"started at (http://\S+) ", started.stdout)
    assert token and url, started.stdout
    return url.group(1), token.group(0)


def login_from_stdin(home: Path, url: str, token: str) -> subprocess.CompletedProcess[str]:
    """`skyhop api login URL --token-stdin` with the token piped in, as a script does."""
    return subprocess.run([sys.executable, "-m", "skyhop.cli.main", "api", "login", url, "--token-stdin"], input=token, capture_output=True,
                          text=True, env=subprocess_env(home), timeout=60)


def test_start_login_at_a_terminal_info_and_admin_verbs(isolated_home: Path):
    url, admin = start_team(isolated_home)
    api_dir = isolated_home / ".skyhop" / "api"
    assert admin not in (api_dir / "server.log").read_text(), "the one-time token never reaches the log"
    assert "token" not in json.loads((api_dir / "server.json").read_text())

    refused = run_cli(isolated_home, "status")
    assert refused.returncode == 1 and "team mode" in refused.stderr and f"skyhop api login {url}" in refused.stderr

    terminal = Terminal(subprocess_env(isolated_home), isolated_home, "api", "login", url)
    terminal.expect("API token")
    terminal.type(admin + "\n")
    assert terminal.finish(timeout=60) == 0
    assert "Logged in" in terminal.screen and "as admin" in terminal.screen
    assert admin not in terminal.screen and admin[18:] not in terminal.screen, "the prompt does not echo the token"
    remote = api_dir / "remote.json"
    assert stat.S_IMODE(remote.stat().st_mode) == 0o600 and stat.S_IMODE(api_dir.stat().st_mode) == 0o700
    assert json.loads(remote.read_text()) == {"url": url, "token": admin, "user": "admin"}

    info = run_cli(isolated_home, "api", "info", "--output", "json")
    shown = json.loads(info.stdout)
    assert (shown["url"], shown["user"], shown["role"], shown["mode"]) == (url, "admin", "admin", "team")
    assert admin not in info.stdout and admin[18:] not in info.stdout
    assert "Token id:" in run_cli(isolated_home, "api", "info").stdout

    assert run_cli(isolated_home, "users", "create", "alice").returncode == 0
    made = run_cli(isolated_home, "tokens", "create", "--user", "alice", "--name", "onboarding")
    alice = re.search(r"shp_\S+", made.stdout).group(0)
    assert "not shown again" in made.stderr
    scripted = json.loads(run_cli(isolated_home, "tokens", "create", "--name", "ci", "--output", "json").stdout)
    assert scripted["user"] == "admin" and scripted["token"].startswith("shp_u" + scripted["id"] + "_")
    listed = json.loads(run_cli(isolated_home, "tokens", "list", "--all-users", "--output", "json").stdout)
    assert {t["user"] for t in listed} == {"admin", "alice"} and alice not in json.dumps(listed)
    assert scripted["token"] not in json.dumps(listed) and len(listed) == 3
    assert [u["id"] for u in json.loads(run_cli(isolated_home, "users", "list", "-o", "json").stdout)] == ["admin", "alice"]
    assert run_cli(isolated_home, "workspaces", "create", "ml").returncode == 0
    assert run_cli(isolated_home, "workspaces", "add-member", "ml", "alice").returncode == 0
    spaces = {w["name"]: w for w in json.loads(run_cli(isolated_home, "workspaces", "list", "-o", "json").stdout)}
    assert spaces["ml"]["members"] == [{"user": "alice", "role": "member"}]

    # alice logs in on her own machine (another home), and may not do an admin's work
    other = isolated_home / "alice-home"
    other.mkdir()
    login = login_from_stdin(other, url, alice + "\n")
    assert login.returncode == 0, login.stderr
    denied = run_cli(other, "users", "create", "eve")
    assert denied.returncode == 1 and "admin role" in denied.stderr and "Traceback" not in denied.stderr
    assert run_cli(isolated_home, "users", "disable", "alice", "-y").returncode == 0
    gone = run_cli(other, "api", "info")
    assert gone.returncode == 1 and "refused" in gone.stderr and "Traceback" not in gone.stderr
    assert "users enable alice" in run_cli(isolated_home, "users", "disable", "alice", "-y").stdout, "says how to undo it"
    assert run_cli(isolated_home, "users", "enable", "alice").returncode == 0
    assert run_cli(other, "api", "info").returncode == 0, "her token works again"

    assert "Logged out" in run_cli(isolated_home, "api", "logout").stdout
    assert not remote.exists()
    assert run_cli(isolated_home, "api", "stop").returncode == 0


def test_a_wrong_token_at_login_is_one_paragraph(isolated_home: Path):
    url, _ = start_team(isolated_home)
    terminal = Terminal(subprocess_env(isolated_home), isolated_home, "api", "login", url)
    terminal.expect("API token")
    terminal.type("shp_unotarealtoken_" + "x" * 32 + "\n")
    assert terminal.finish(timeout=60) == 1
    errors = [line for line in terminal.screen.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "did not accept this token" in errors[0] and "nothing was saved" in errors[0]
    assert not (isolated_home / ".skyhop" / "api" / "remote.json").exists()
    no_tty = run_cli(isolated_home, "api", "login", url)
    assert no_tty.returncode == 1 and "--token-stdin" in no_tty.stderr
    flags = run_cli(isolated_home, "api", "start", "--host", "0.0.0.0")
    assert flags.returncode == 2 and "--team" in flags.stderr


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runuser"), reason="needs root (to act as user nobody) and runuser")
def test_another_unix_user_cannot_read_the_login_or_the_pepper(isolated_home: Path):
    url, admin = start_team(isolated_home)
    done = login_from_stdin(isolated_home, url, admin)
    assert done.returncode == 0, done.stderr
    api_dir = isolated_home / ".skyhop" / "api"
    control = api_dir / "readable-control"
    control.write_text("anyone")
    control.chmod(0o644)
    with reachable_for_others(control):
        def read_as_nobody(path: Path) -> subprocess.CompletedProcess[str]:
            return subprocess.run(["runuser", "-u", "nobody", "--", "cat", str(path)], capture_output=True, text=True, timeout=30)

        assert read_as_nobody(control).stdout == "anyone", "the control: nobody reaches files in this directory"
        for secret in (api_dir / "remote.json", api_dir / "token_pepper"):
            denied = read_as_nobody(secret)
            assert denied.returncode != 0 and "Permission denied" in denied.stderr and not denied.stdout


def test_endpoint_order_env_then_login_then_local(isolated_home: Path, monkeypatch: pytest.MonkeyPatch):
    from skyhop.client import remote
    from skyhop.client.server_process import endpoint
    from skyhop.errors import SkyhopError

    assert endpoint(autostart=False) is None, "nothing: no login, no local server"
    remote.write(remote.Login("http://team.example:46580", "shp_secret", "alice"))
    path = isolated_home / ".skyhop" / "api" / "remote.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert (endpoint().url, endpoint().token) == ("http://team.example:46580", "shp_secret")
    monkeypatch.setenv("SKYHOP_API_SERVER_URL", "http://env.example:1/")
    monkeypatch.setenv("SKYHOP_API_TOKEN", "from-env")
    assert (endpoint().url, endpoint().token) == ("http://env.example:1", "from-env")
    monkeypatch.delenv("SKYHOP_API_SERVER_URL")
    path.chmod(0o644)
    with pytest.raises(SkyhopError, match="other users may read it"):
        endpoint()
    path.write_text("{not json")
    path.chmod(0o600)
    with pytest.raises(SkyhopError, match="api logout"):
        endpoint()
    assert remote.remove() is None and not path.exists()


def test_destructive_team_verbs_ask_at_a_terminal_and_obey(isolated_home: Path):
    """`tokens revoke`, `users disable`, `budgets delete`, `workspaces delete` without -y: "no", Enter (the
    default is no) and Ctrl-C change nothing; "y" does it; none ends in a traceback."""
    from pty_terminal import CTRL_C

    url, admin = start_team(isolated_home)
    assert login_from_stdin(isolated_home, url, admin).returncode == 0
    env = subprocess_env(isolated_home)
    assert run_cli(isolated_home, "users", "create", "carol").returncode == 0
    made = json.loads(run_cli(isolated_home, "tokens", "create", "--user", "carol", "--output", "json").stdout)
    assert run_cli(isolated_home, "workspaces", "create", "ml").returncode == 0
    assert run_cli(isolated_home, "budgets", "set", "--user", "carol", "--monthly", "5").returncode == 0

    def tokens_live() -> bool:
        rows = json.loads(run_cli(isolated_home, "tokens", "list", "--all-users", "--output", "json").stdout)
        return not next(r for r in rows if r["id"] == made["id"])["revoked_at"]

    def carol_enabled() -> bool:
        return next(u for u in json.loads(run_cli(isolated_home, "users", "list", "-o", "json").stdout) if u["id"] == "carol")["disabled_at"] is None

    def has_budget() -> bool:
        return bool(json.loads(run_cli(isolated_home, "budgets", "list", "-o", "json").stdout))

    def has_workspace() -> bool:
        return "ml" in {w["name"] for w in json.loads(run_cli(isolated_home, "workspaces", "list", "-o", "json").stdout)}

    cases = [
        (("tokens", "revoke", made["id"]), "Revoke token", tokens_live),
        (("users", "disable", "carol"), "Disable carol?", carol_enabled),
        (("budgets", "delete", "--user", "carol"), "Remove the budget for user carol?", has_budget),
        (("workspaces", "delete", "ml"), "Delete workspace ml?", has_workspace),
    ]
    for args, prompt, still_there in cases:
        for answer in ("n\n", "\n", CTRL_C):
            terminal = Terminal(env, isolated_home, *args)
            terminal.expect(prompt)
            terminal.type(answer)
            assert terminal.finish(timeout=60) != 0
            assert "Traceback" not in terminal.screen
            assert still_there(), f"{args} with {answer!r} changed something"
        terminal = Terminal(env, isolated_home, *args)
        terminal.expect(prompt)
        terminal.type("y\n")
        assert terminal.finish(timeout=60) == 0, terminal.screen
        assert not still_there(), f"{args} confirmed did nothing"
    no_terminal = run_cli(isolated_home, "users", "disable", "admin")
    assert no_terminal.returncode == 1 and "Traceback" not in no_terminal.stderr, "no terminal to answer on: nothing happens"
    assert run_cli(isolated_home, "api", "stop").returncode == 0
