"""Rows a dead controller left in the middle of a step, continued by a fresh controller (in-process, real
store, local provider): each is the state right after one write-ahead step and before the action."""

from __future__ import annotations

from managed_jobs.inprocess import drive_until_ended
from skyhop.execution import launch as launching
from skyhop.execution.progress import Progress
from skyhop.server.controllers.jobs import attempt_log
from skyhop.spec.task import Task
from skyhop.state.controller_leases import ControllerLeases
from skyhop.state.managed import KIND, ManagedJobs
from skyhop.state.store import StateStore


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
    launching.launch(Task(run="true"), launching.LaunchOptions(cluster_name="left-1", detach_run=True), Progress(), store)
    ControllerLeases(store).register(KIND, str(job.id))
    assert drive_until_ended(store, job.id) == "SUCCEEDED"
    assert store.list_clusters() == []
