"""Several processes on one database, and processes killed mid-way.

The children are real interpreters (workers.py) on a real SQLite file or a
real PostgreSQL database (the `db_url` fixture runs each test on both); they
open their store, say "ready", and start together when told on stdin.
"""

from __future__ import annotations

import multiprocessing
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from conftest import cluster
from helpers import subprocess_env

from skyhop.state import db
from skyhop.state.migrations import HEAD
from skyhop.state.store import StateStore

WORKERS = Path(__file__).with_name("workers.py")


def spawn(home: Path, url: str, mode: str, tag: str = "-", n: int = 0) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKERS), url, mode, tag, str(n)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(home),
    )


def wait_ready(child: subprocess.Popen[str]) -> None:
    line = child.stdout.readline()
    assert line == "ready\n", line + child.stderr.read()


def go(*children: subprocess.Popen[str]) -> None:
    for child in children:
        child.stdin.write("go\n")
        child.stdin.flush()


def assert_consistent(url: str) -> None:
    """SQLite's own checks (PostgreSQL enforces its constraints on every write),
    plus the store's invariants between tables."""
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
    with StateStore(url) as store:
        live = {c.name: c for c in store.list_clusters()}
        names = live.keys() | {e.cluster for e in store.list_events()}
        for name in names:
            kinds = [e.event for e in store.list_events(name)]
            expected_last = {"INIT": None, "UP": ("LAUNCH", "START"), "STOPPED": ("STOP",)}
            if name in live and live[name].status != "INIT":
                assert kinds and kinds[-1] in expected_last[live[name].status], (name, live[name].status, kinds)
            if name not in live:
                assert not kinds or kinds[-1] == "TERMINATE", (name, kinds)
                assert store.list_jobs(name) == []
            for before, after in zip(kinds, kinds[1:]):  # a well-formed history
                allowed = {"LAUNCH": {"STOP", "TERMINATE"}, "START": {"STOP", "TERMINATE"}, "STOP": {"START", "TERMINATE"}, "TERMINATE": {"LAUNCH"}}
                assert after in allowed[before], (name, kinds)
        store.cost_report()


def test_two_processes_writing_at_once_lose_nothing(db_url, isolated_home):
    url = db_url
    with StateStore(url) as store:
        store.add_cluster(cluster("shared"))
    children = [spawn(isolated_home, url, "concurrent", tag, 50) for tag in ("a", "b")]
    for child in children:
        wait_ready(child)
    go(*children)
    for child in children:
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
        assert out.split() == [str(i) for i in range(50)]
    with StateStore(url) as store:
        assert len(store.list_clusters()) == 101
        assert len(store.list_requests(limit=1000)) == 100
        assert sorted(j.job_id for j in store.list_jobs("shared")) == list(range(50)) + list(range(1000, 1050))
        assert store.list_events("shared")[0].event == "LAUNCH"
    assert_consistent(url)


def test_a_process_killed_while_writing_leaves_a_consistent_database(db_url, isolated_home):
    url = db_url
    StateStore(url).close()
    child = spawn(isolated_home, url, "crash", "k")
    wait_ready(child)
    go(child)
    for _ in range(12):  # let it finish some rounds, then kill it in the middle of another
        assert child.stdout.readline(), child.stderr.read()
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert_consistent(url)
    with StateStore(url) as store:
        for record in store.list_clusters():
            assert len(store.list_jobs(record.name)) in (0, 20), "upsert_jobs is all or nothing"
        store.add_cluster(cluster("after"))  # and the write lock is free again
        assert store.get_cluster("after") is not None


def test_a_process_killed_inside_a_transaction_leaves_nothing_of_it(db_url, isolated_home):
    url = db_url
    StateStore(url).close()
    child = spawn(isolated_home, url, "die", "d")
    wait_ready(child)
    go(child)
    child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert_consistent(url)
    with StateStore(url) as store:
        assert [c.name for c in store.list_clusters()] == ["committed"]
        assert store.get_cluster("committed").status == "INIT"
        assert store.list_events() == []
        store.set_cluster_status("committed", "UP")


def test_a_process_killed_while_migrating_leaves_a_fresh_database(db_url, isolated_home):
    url = db_url
    child = spawn(isolated_home, url, "migration")
    out, err = child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL, err
    assert out == "migrated, not committed\n"
    engine = db.create_engine(url)
    try:
        assert db.current_revision(engine) is None
    finally:
        engine.dispose()
    with StateStore(url) as store:
        assert store.list_clusters() == []
        assert db.current_revision(store._engine) == HEAD


def test_two_processes_creating_the_database_at_once(db_url, isolated_home):
    """Both find no schema; the migration lock makes the second one wait and find it done."""
    url = db_url
    children = [spawn(isolated_home, url, "concurrent", tag, 0) for tag in ("a", "b")]
    for child in children:
        wait_ready(child)
    go(*children)
    for child in children:
        _, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
    assert_consistent(url)


def _child_writes(store: StateStore) -> None:
    store.add_cluster(cluster("from-child"))


def test_a_forked_child_can_keep_using_the_parents_store(store):
    store.list_clusters()  # the parent has a pooled connection now
    child = multiprocessing.get_context("fork").Process(target=_child_writes, args=(store,))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    assert store.get_cluster("from-child") is not None
    store.add_cluster(cluster("from-parent"))
