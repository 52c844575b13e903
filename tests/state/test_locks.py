"""Cluster locks: across threads everywhere, and across processes on PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import postgres_db
import pytest
from helpers import subprocess_env

from skyhop.execution.locks import cluster_lock, is_busy
from skyhop.state import db

# A child process: take the cluster lock, say so, hold it until told on stdin.
HOLDER = """
import sys
from skyhop.execution.locks import cluster_lock, is_busy
print("busy-before", is_busy(sys.argv[1]), flush=True)
with cluster_lock(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.readline()
print("released", flush=True)
"""


def holder(home, url: str, name: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, name],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=subprocess_env(home, SKYHOP_DB_URL=url),
    )


def waiting_advisory_locks(url: str) -> int:
    engine = db.create_engine(url)
    try:
        with engine.connect() as connection:
            query = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            return connection.exec_driver_sql(query).scalar()
    finally:
        engine.dispose()


def wait_until(condition, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def pg_url(isolated_home, monkeypatch) -> str:
    for url in postgres_db.fresh_database():
        monkeypatch.setenv("SKYHOP_DB_URL", url)
        yield url


def test_two_processes_take_turns_on_a_cluster_lock(pg_url, isolated_home):
    first = holder(isolated_home, pg_url, "c1")
    assert first.stdout.readline() == "busy-before False\n", first.stderr.read()
    assert first.stdout.readline() == "held\n", first.stderr.read()
    assert is_busy("c1"), "another process holds it: this one must see the cluster busy"
    assert not is_busy("c2"), "other clusters are free"
    second = holder(isolated_home, pg_url, "c1")
    assert second.stdout.readline() == "busy-before True\n", second.stderr.read()
    wait_until(lambda: waiting_advisory_locks(pg_url) == 1, "the second process to wait for the lock")
    with cluster_lock("c2"):  # meanwhile another cluster's lock is free, in this process too
        pass
    first.stdin.write("go\n")
    first.stdin.flush()
    assert first.stdout.readline() == "released\n"
    assert second.stdout.readline() == "held\n", second.stderr.read()
    second.stdin.write("go\n")
    second.stdin.flush()
    for child in (first, second):
        child.communicate(timeout=60)
        assert child.returncode == 0
    assert not is_busy("c1")


def test_a_killed_holder_releases_its_lock(pg_url, isolated_home):
    child = holder(isolated_home, pg_url, "c1")
    child.stdout.readline()
    assert child.stdout.readline() == "held\n", child.stderr.read()
    child.kill()
    child.communicate(timeout=60)
    wait_until(lambda: not is_busy("c1"), "PostgreSQL to release the dead session's lock")
    with cluster_lock("c1"):
        assert is_busy("c1")


def test_threads_take_turns_on_sqlite(isolated_home):
    """SQLite: the in-process lock is the guard (one server process per SQLite file)."""
    inside: list[int] = []
    overlaps: list[int] = []

    def work(i: int) -> None:
        for _ in range(20):
            with cluster_lock("c1"):
                inside.append(i)
                if len(inside) > 1:
                    overlaps.append(i)
                time.sleep(0.001)
                inside.remove(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == []
    assert not is_busy("c1")
