"""Rows a dead controller left in the middle of a step, continued by a fresh controller (in-process, real
store, local provider): each is the state right after one write-ahead step and before the action."""

from __future__ import annotations

import threading
import time

import pytest

from managed_jobs.inprocess import drive_until_ended
from skyhop.execution import launch as launching
from skyhop.execution.progress import Progress
from skyhop.server.controllers.jobs import attempt_log, controller_log
from skyhop.spec.task import Task
from skyhop.state.controller_leases import ControllerLeases
from skyhop.state.managed import KIND, ManagedJobs
from skyhop.state.store import StateStore

pytestmark = pytest.mark.slow


def _job(store, name: str):
    return ManagedJobs(store).create([{"name": name, "tasks": [Task(run="echo back").to_dict()]}])[0]


def test_an_attempt_whose_job_was_submitted_but_whose_cluster_vanished_counts_as_preempted(migrated_home):
    store = StateStore()
    managed = ManagedJobs(store)
    job = _job(store, "gone")
    attempt = managed.add_attempt(job.id, 0, "gone-1", False)
    managed.update(job.id, status="STARTING", cluster="gone-1")
    log = Progress(attempt_log(job.id, attempt))
    log.submitted(1)  # the launch had submitted job 1 when its server died; the cluster went meanwhile
    log.close()
    assert drive_until_ended(store, job.id) == "SUCCEEDED"
    assert [a.outcome for a in managed.attempts(job.id)] == ["preempted", "succeeded"]
    assert managed.get(job.id).recovery_count == 1


def test_a_terminal_row_whose_teardown_never_ran_is_cleaned_up(migrated_home):
    store = StateStore()
    job = _job(store, "left")
    assert drive_until_ended(store, job.id) == "SUCCEEDED"
    # Pretend the server died between writing SUCCEEDED and the teardown: the cluster is back, the lease too.
    launching.launch(Task(run="true"), launching.LaunchOptions(cluster_name="left-1", owner="me", detach_run=True), Progress(), store)
    ControllerLeases(store).register(KIND, str(job.id))
    assert drive_until_ended(store, job.id) == "SUCCEEDED"
    assert store.list_clusters() == []


def test_cancel_while_starting_stops_the_launch_and_removes_its_cluster(migrated_home, gate):
    url, is_open = gate
    is_open.clear()  # the launch hangs in its file_mounts sync
    store = StateStore()
    managed = ManagedJobs(store)
    task = Task.from_dict({"name": "halted", "file_mounts": {"~/data.txt": url}, "run": "echo never"})
    (job,) = managed.create([{"name": "halted", "tasks": [task.to_dict()]}])

    def cancel_once_starting() -> None:
        deadline = time.monotonic() + 60
        while managed.get(job.id).status != "STARTING" or store.get_cluster("halted-1") is None:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        ControllerLeases(store).request_cancel(KIND, str(job.id))
        time.sleep(0.5)
        is_open.set()  # the sync returns; the launch sees the cancel at its next phase

    canceller = threading.Thread(target=cancel_once_starting)
    canceller.start()
    assert drive_until_ended(store, job.id) == "CANCELLED"
    canceller.join()
    assert [a.outcome for a in managed.attempts(job.id)] == ["cancelled"]
    assert store.list_clusters() == []


def test_a_launch_stopped_by_a_busy_database_is_launched_again_not_failed(migrated_home, monkeypatch):
    """Many launches at once can wait out SQLite's busy timeout ("database is locked", seen at 200 jobs in
    benchmarks/managed_jobs.py): that is no failure of the job, whose attempt is launched again."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    real_launch = launching.launch
    calls = []

    def launch_once_locked(task, options, progress, store):
        calls.append(options.cluster_name)
        if len(calls) == 1:  # the database refuses the first launch's first write
            raise OperationalError("BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked"))
        return real_launch(task, options, progress, store)

    monkeypatch.setattr(launching, "launch", launch_once_locked)
    store = StateStore()
    job = _job(store, "busy")
    assert drive_until_ended(store, job.id) == "SUCCEEDED"
    managed = ManagedJobs(store)
    assert [a.outcome for a in managed.attempts(job.id)] == ["succeeded"]  # the same attempt, launched twice
    assert calls == ["busy-1", "busy-1"]
    assert "the state database was busy (database is locked)" in controller_log(job.id).read_text()
    assert store.list_clusters() == []
