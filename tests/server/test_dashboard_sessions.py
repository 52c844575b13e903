"""Dashboard sessions and one-time codes without a server: the key file, expiry, single use across processes."""

from __future__ import annotations

import multiprocessing
import stat
import time

from skyhop.server.auth.principal import Principal, Role
from skyhop.server.dashboard.sessions import CODE_S, SESSION_S, Sessions

ALICE = Principal("alice", Role.USER, workspace="ml", workspaces=frozenset({"ml", "default"}), token_id="tok123")


def test_a_cookie_carries_the_principal_until_it_expires_and_any_process_of_the_install_reads_it(tmp_path):
    api = tmp_path / "api"
    value, session = Sessions(api).issue(ALICE, now=1000.0)
    assert stat.S_IMODE((api / "dashboard.key").stat().st_mode) == 0o600
    other = Sessions(api)  # another server process on the host: the same key file
    assert other.verify(value, now=1000.0 + SESSION_S - 1) == session and session.principal == ALICE
    assert other.verify(value, now=1000.0 + SESSION_S + 1) is None
    assert Sessions(tmp_path / "elsewhere").verify(value, now=1000.0) is None  # another install's key
    for broken in ("", "x", "a.b.c", value + "x", "!" + value, value.split(".")[0] + ".", "e30." + value.split(".")[1]):
        assert other.verify(broken, now=1000.0) is None, broken


def _redeem(directory, code, results) -> None:
    results.put(Sessions(directory).redeem(code) is not None)


def test_a_code_works_once_within_a_minute_even_with_processes_racing_for_it(tmp_path):
    api = tmp_path / "api"
    sessions = Sessions(api)
    code = sessions.new_code(ALICE)
    assert stat.S_IMODE((api / "dashboard-codes").stat().st_mode) == 0o700
    results: multiprocessing.Queue = multiprocessing.Queue()
    racers = [multiprocessing.Process(target=_redeem, args=(api, code, results)) for _ in range(4)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(30)
    assert sorted(results.get(timeout=5) for _ in racers) == [False, False, False, True]
    late = sessions.new_code(ALICE)
    assert sessions.redeem(late, now=time.time() + CODE_S + 1) is None
    assert sessions.redeem(late) is None  # a stale code is gone, not kept for later
    assert sessions.redeem("not-a-code") is None and sessions.redeem("") is None
    assert sessions.redeem(sessions.new_code(ALICE)) == ALICE
