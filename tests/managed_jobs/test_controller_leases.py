"""The controller lease with real processes on a real database (SQLite file and PostgreSQL).

Two controller host processes share one database: each object is driven by
exactly one of them; SIGKILL of one hands its objects to the other at once (the
owner is on this host and provably dead); an owner that only falls silent
(SIGSTOP, on a "host" whose death cannot be proven) loses its objects when its
lease expires, and on waking gives them up instead of driving them twice; a
cancel flag set by any process ends the object through its owner.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from e2e_support import wait_for

from skyhop.state.controller_leases import ControllerLeases, OwnerId, process_start
from skyhop.state.store import StateStore

pytestmark = pytest.mark.slow

WORKER = Path(__file__).with_name("lease_worker.py")


def _spawn(url: str, out: Path, *extra: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, str(WORKER), url, str(out), *extra], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def _lines(out: Path) -> list[tuple[str, str, int]]:
    if not out.exists():
        return []
    return [(kind, oid, int(pid)) for kind, oid, pid in (line.split() for line in out.read_text().splitlines())]


def _drivers(out: Path) -> dict[str, list[int]]:
    """object id -> the pids that started driving it, in order."""
    found: dict[str, list[int]] = collections.defaultdict(list)
    for kind, oid, pid in _lines(out):
        if kind == "start":
            found[oid].append(pid)
    return found


@pytest.fixture
def procs():
    started: list[subprocess.Popen] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
        proc.wait()


def _register(url: str, count: int) -> ControllerLeases:
    leases = ControllerLeases(StateStore(url), OwnerId("test-host", 1, "0"))
    for i in range(count):
        leases.register("test", str(i))
    return leases


def test_two_processes_split_the_objects_and_a_killed_ones_are_taken_over_at_once(db_url, tmp_path, procs):
    out = tmp_path / "out"
    leases = _register(db_url, 20)
    procs += [_spawn(db_url, out), _spawn(db_url, out)]
    wait_for(lambda: len(_drivers(out)) == 20, 60, "all 20 objects driven")
    time.sleep(1.0)  # several more ticks of both: nobody takes what the other holds
    drivers = _drivers(out)
    assert all(len(pids) == 1 for pids in drivers.values()), drivers
    victim, survivor = procs[0], procs[1]
    victims = {oid for oid, pids in drivers.items() if pids == [victim.pid]}
    if not victims:  # the first process took nothing: kill the other one instead
        victim, survivor = survivor, victim
        victims = {oid for oid, pids in drivers.items() if pids == [victim.pid]}
    victim.kill()
    victim.wait()
    # The lease lasts 30 s; a dead owner on this host is taken over without waiting for it.
    started = time.monotonic()
    wait_for(lambda: all(_drivers(out)[oid] == [victim.pid, survivor.pid] for oid in victims), 20, "the survivor took the dead one's objects")
    assert time.monotonic() - started < 20
    # Cancel from a third process (this one): the owner ends the object and its lease goes.
    target = sorted(victims)[0]
    assert leases.request_cancel("test", target)
    wait_for(lambda: ("cancel", target, survivor.pid) in _lines(out), 20, "the owner saw the cancel flag")
    wait_for(lambda: target not in leases.claimable("test") and not leases.request_cancel("test", target), 20, "the lease row is gone")
    assert all(len(set(pids)) == len(pids) for pids in _drivers(out).values())


def test_a_silent_owner_loses_its_objects_at_expiry_and_gives_them_up_on_waking(db_url, tmp_path, procs):
    out = tmp_path / "out"
    _register(db_url, 5)
    silent = _spawn(db_url, out, "--host", "elsewhere", "--ttl", "2")
    procs.append(silent)
    wait_for(lambda: len(_drivers(out)) == 5, 60, "the first owner drives all 5")
    silent.send_signal(signal.SIGSTOP)  # alive, but neither ticking nor heartbeating
    stopped_at = time.monotonic()
    other = _spawn(db_url, out, "--ttl", "2")
    procs.append(other)
    wait_for(lambda: all(pids[-1] == other.pid for pids in _drivers(out).values()), 60, "the second owner took over after expiry")
    assert time.monotonic() - stopped_at >= 1.5  # not before the silent owner's lease expired (ttl 2 s)
    silent.send_signal(signal.SIGCONT)
    time.sleep(2.0)  # the woken owner finds its row lapsed: it drops everything and re-joins, taking nothing back
    drivers = _drivers(out)
    assert all(pids == [silent.pid, other.pid] for pids in drivers.values()), drivers


def test_owner_ids_prove_death_only_on_this_host():
    me = OwnerId.of_this_process()
    assert OwnerId.parse(str(me)) == me and not me.provably_dead()
    assert me.start == process_start(os.getpid())
    assert OwnerId(me.host, me.pid, "1").provably_dead()  # the pid now belongs to another process start
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert OwnerId(me.host, child.pid, "123").provably_dead()
    assert not OwnerId("some-other-host", child.pid, "123").provably_dead()


def test_an_owner_killed_but_not_yet_reaped_is_provably_dead():
    """A server killed by `kill -9` stays a zombie until its parent reaps it; it drives nothing, so its leases are
    free at once (taken as alive, they waited out the lease: 30 s, and a survivor ran past the test's 30 s wait)."""
    import signal
    import socket
    import subprocess
    import time

    from skyhop.state.controller_leases import OwnerId, process_start

    child = subprocess.Popen(["sleep", "60"])
    try:
        owner = OwnerId(socket.gethostname(), child.pid, process_start(child.pid) or "")
        assert owner.start and not owner.provably_dead()
        child.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 10
        while open(f"/proc/{child.pid}/stat").read().rpartition(")")[2].split()[0] != "Z" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert owner.provably_dead()  # a zombie now, not reaped yet
    finally:
        child.kill()
        child.wait()
