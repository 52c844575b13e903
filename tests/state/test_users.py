"""Users, tokens and workspaces in the state store (team mode), on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator

import postgres_db
import pytest

from skyhop.errors import ConflictError, NotFoundError
from skyhop.state import pepper, users
from skyhop.state.models import Token
from skyhop.state.store import StateStore
from skyhop.state.users import InvalidName, Users

PEPPER = b"p" * 32


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StateStore]:
    """One database per backend for the module (a migration per test would be most of its time): tests use names of their own."""
    if request.param == "sqlite":
        with StateStore(f"sqlite:///{tmp_path_factory.mktemp('users') / 'state.db'}") as opened:
            yield opened
    else:
        for url in postgres_db.fresh_database():
            with StateStore(url) as opened:
                yield opened


@pytest.fixture
def team(shared_store: StateStore) -> Users:
    return Users(shared_store, PEPPER)


def name() -> str:
    return f"u{uuid.uuid4().hex[:10]}"


def test_a_minted_token_authenticates_its_user_with_role_and_workspaces(team: Users):
    alice, ml = name(), name()
    team.create_user(alice, role="user")
    team.create_workspace(ml)
    team.add_member(ml, alice)
    new = team.mint(alice, name="laptop")
    assert re.fullmatch(r"shp_u[a-z2-7]{12}_[A-Za-z0-9_-]{32}", new.secret)
    assert new.secret[5:17] == new.record.id
    found = team.authenticate(new.secret)
    assert found is not None
    assert (found.user, found.role, found.workspaces, found.token.id) == (alice, "user", frozenset({"default", ml}), new.record.id)


def test_only_the_keyed_hash_is_stored(team: Users, shared_store: StateStore):
    alice = name()
    team.create_user(alice)
    new = team.mint(alice)
    with shared_store._read() as session:
        stored = bytes(session.get(Token, new.record.id).hash)
    assert new.secret.encode() not in stored and len(stored) == 32
    assert Users(shared_store, b"q" * 32).authenticate(new.secret) is None, "another pepper: the hash does not match"
    assert not hasattr(new.record, "hash")


def test_a_wrong_token_is_refused(team: Users):
    alice = name()
    team.create_user(alice)
    token = team.mint(alice).secret
    wrong = [
        token[:-1] + ("A" if token[-1] != "A" else "B"),  # another secret, same id
        "shp_s" + token[5:],  # another kind letter
        token + "x", token[:-1], "", "shp_", "Bearer " + token,
        "shp_u" + "a" * 12 + "_" + "b" * 32,  # well formed, unknown id
        "shp_u" + token[5:17].upper() + token[17:],
    ]
    assert [team.authenticate(t) for t in wrong] == [None] * len(wrong)
    assert team.authenticate(token) is not None


def test_revoked_expired_and_disabled_are_refused_at_the_next_lookup(team: Users):
    bob = name()
    team.create_user(bob)
    revoked, expired, kept = team.mint(bob), team.mint(bob, expires_at=1.0), team.mint(bob)
    assert team.authenticate(revoked.secret) is not None
    first = team.revoke(revoked.record.id)
    assert team.authenticate(revoked.secret) is None
    assert team.revoke(revoked.record.id).revoked_at == first.revoked_at, "idempotent: the first time is kept"
    assert team.authenticate(expired.secret) is None
    assert team.authenticate(kept.secret) is not None
    team.disable(bob)
    assert team.authenticate(kept.secret) is None
    assert team.get_user(bob).disabled_at is not None, "the row stays"
    assert {t.id for t in team.list_tokens(bob)} == {revoked.record.id, expired.record.id, kept.record.id}
    with pytest.raises(ConflictError):
        team.mint(bob)
    with pytest.raises(NotFoundError):
        team.revoke("aaaaaaaaaaaa")


def test_last_used_is_written_once_a_minute(team: Users, monkeypatch):
    alice = name()
    team.create_user(alice)
    new = team.mint(alice)
    clock = [1000.0]
    monkeypatch.setattr(users.time, "time", lambda: clock[0])
    team.authenticate(new.secret)
    assert team.get_token(new.record.id).last_used_at == 1000.0
    clock[0] = 1030.0
    team.authenticate(new.secret)
    assert team.get_token(new.record.id).last_used_at == 1000.0
    clock[0] = 1061.0
    team.authenticate(new.secret)
    assert team.get_token(new.record.id).last_used_at == 1061.0


def test_bootstrap_roles_and_the_last_admin(store: StateStore):
    """On a database of its own: the bootstrap needs one without an admin."""
    team = Users(store, PEPPER)
    new = team.bootstrap_admin()
    assert new is not None and team.authenticate(new.secret).role == "admin"
    assert team.bootstrap_admin() is None, "an admin exists: nothing is printed the second time"
    team.create_user("fin", role="viewer", display_name="Finance")
    with pytest.raises(ConflictError):
        team.create_user("fin")
    assert [u.id for u in team.list_users()] == ["admin", "fin"]
    with pytest.raises(ConflictError, match="only enabled admin"):
        team.set_role("admin", "user")
    with pytest.raises(ConflictError, match="only enabled admin"):
        team.disable("admin")
    team.set_role("fin", "admin")
    assert team.set_role("admin", "user").role == "user"
    with pytest.raises(NotFoundError):
        team.set_role("nobody", "user")
    assert team.bootstrap_admin() is None, "fin is an enabled admin"
    team.disable("admin")
    assert team.authenticate(new.secret) is None, "a disabled user's token"
    forced = team.bootstrap_admin(force=True)  # --new-admin-token: a lost bootstrap token, while "fin" is an admin
    assert forced is not None and team.authenticate(forced.secret).role == "admin"
    assert team.get_user("admin").disabled_at is None


@pytest.mark.parametrize("bad", ["", "Alice", "-x", "a" * 65, "a/b", "a b", "ä", "x\n", None, 3])
def test_bad_names_are_refused(bad):
    with pytest.raises(InvalidName):
        users.check_name(bad, "User id")


def test_bad_role_and_kind_are_refused(team: Users):
    x = name()
    with pytest.raises(InvalidName):
        team.create_user(x, role="root")
    with pytest.raises(InvalidName):
        team.create_user(x, kind="robot")
    with pytest.raises(InvalidName):
        team.create_workspace("Bad Name")
    team.create_user(x)
    with pytest.raises(InvalidName):
        team.mint(x, kind="forever")


def test_workspaces_and_memberships(team: Users):
    alice, ml = name(), name()
    team.create_user(alice)
    team.create_workspace(ml, "the ML team")
    team.add_member(ml, alice, "admin")
    team.add_member(ml, alice, "member")  # a second add changes the role
    assert team.memberships(alice) == {"default": "member", ml: "member"}
    assert [w.name for w in team.list_workspaces(member=alice)] == sorted(["default", ml])
    found = {w.name: w for w in team.list_workspaces()}[ml]
    assert (found.description, found.members) == ("the ML team", ((alice, "member"),))
    with pytest.raises(ConflictError):
        team.create_workspace(ml)
    with pytest.raises(NotFoundError):
        team.add_member(ml, "nobody")
    with pytest.raises(NotFoundError):
        team.add_member("nowhere", alice)
    team.remove_member(ml, alice)
    with pytest.raises(NotFoundError):
        team.remove_member(ml, alice)
    team.delete_workspace(ml)
    with pytest.raises(NotFoundError):
        team.delete_workspace(ml)
    with pytest.raises(ConflictError):
        team.delete_workspace("default")


def test_the_pepper_file_is_private_and_made_once_across_processes(isolated_home, monkeypatch):
    monkeypatch.delenv(pepper.ENV, raising=False)
    code = "from skyhop.state import pepper; import sys; sys.stdout.write(pepper.load().hex())"
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(4)]
    values = {p.communicate(timeout=60)[0] for p in procs}
    assert len(values) == 1 and len(bytes.fromhex(values.pop())) == 32
    path = pepper.pepper_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["token_pepper"], "no temporary file left"
    os.chmod(path, 0o644)
    with pytest.raises(users.StateError, match="readable by other users"):
        pepper.load()


def test_the_pepper_from_the_environment(monkeypatch):
    monkeypatch.setenv(pepper.ENV, "short")
    with pytest.raises(users.StateError, match="at least 32"):
        pepper.load()
    monkeypatch.setenv(pepper.ENV, "x" * 40)
    assert pepper.load() == b"x" * 40
    assert not pepper.pepper_file().exists()


def test_concurrent_bootstraps_print_one_token(store: StateStore):
    """Several server processes starting at once on one database: one of them makes the admin and its token."""
    from concurrent.futures import ThreadPoolExecutor

    team = Users(store, PEPPER)
    with ThreadPoolExecutor(4) as pool:
        made = [new for new in pool.map(lambda _: team.bootstrap_admin(), range(4)) if new is not None]
    assert len(made) == 1
    assert [t.id for t in team.list_tokens("admin")] == [made[0].record.id]
