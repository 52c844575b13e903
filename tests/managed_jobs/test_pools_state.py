"""The pool side of the state store (revision 0007) on both backends: which `apply` rolls the workers, an
autoscaled pool keeping its target within new bounds, `retire` never taking a worker a job holds, the queue a
pool scales on; and `jobs cancel --pool` cancelling only the caller's unfinished jobs of that pool."""

from __future__ import annotations

import pytest

from skyhop.errors import NotFoundError
from skyhop.identity import current_user
from skyhop.server import schemas
from skyhop.server.auth.principal import Principal, Role
from skyhop.server.services import managed_jobs
from skyhop.spec.task import Task
from skyhop.state import job_pools
from skyhop.state.controller_leases import ControllerLeases
from skyhop.state.job_pools import JobPools, version_of
from skyhop.state.managed import KIND, ManagedJobs
from skyhop.state.store import StateStore

V1 = {"setup": "echo v1", "pool": {"workers": 2}}


def test_apply_rolls_the_workers_only_when_what_they_are_made_of_changed(db_url):
    with StateStore(db_url) as store:
        pools = JobPools(store)
        pool, created = pools.apply("wp", V1, 2)
        assert created and version_of(pool) == 1
        assert version_of(pools.apply("wp", {**V1, "name": "renamed", "pool": {"workers": 5}}, 5)[0]) == 1  # size, name: same workers
        assert version_of(pools.apply("wp", {**V1, "setup": "echo v2"}, 2)[0]) == 2
        mounted = {**V1, "setup": "echo v2", "file_mounts": {"/data": "/tmp"}}
        assert version_of(pools.apply("wp", mounted, 2)[0]) == 3
        assert version_of(pools.apply("wp", mounted, 2)[0]) == 4  # file_mounts: every update recreates (as SkyPilot)


def test_an_autoscaled_pool_keeps_its_target_moved_into_new_bounds(db_url):
    with StateStore(db_url) as store:
        pools = JobPools(store)
        assert pools.apply("ap", {"pool": {"min_workers": 0, "max_workers": 4}}, 0, bounds=(0, 4))[0].workers == 0
        pools.set_target("ap", 3)
        assert pools.apply("ap", {"pool": {"min_workers": 1, "max_workers": 4}}, 1, bounds=(1, 4))[0].workers == 3
        assert pools.apply("ap", {"pool": {"min_workers": 0, "max_workers": 2}}, 0, bounds=(0, 2))[0].workers == 2
        pools.mark_down("ap")
        pools.set_target("ap", 1)  # `pool down` asked meanwhile: the autoscaler's write is dropped
        assert pools.get("ap").workers == 2


def test_retire_never_takes_a_worker_a_job_holds_and_no_job_claims_a_retiring_one(db_url):
    with StateStore(db_url) as store:
        pools = JobPools(store)
        pools.apply("wp", V1, 2)
        pools.set_worker("wp", 0, "wp-w0-a", job_pools.READY, version=1)
        pools.set_worker("wp", 1, "wp-w1-a", job_pools.READY, version=1)
        w0, w1 = pools.workers("wp")
        assert pools.take(w0, 7).slot == 0
        assert not pools.retire("wp", 0, "wp-w0-a")  # busy
        assert not pools.retire("wp", 1, "wp-w1-old")  # replaced meanwhile
        assert pools.retire("wp", 1, "wp-w1-a")
        assert pools.take(w1, 8) is None  # the only idle worker is RETIRING (w1 was read while it was READY)
        assert [(w.slot, w.status, w.job_id) for w in pools.workers("wp")] == [(0, "READY", 7), (1, "RETIRING", None)]
        assert version_of(pools.set_worker("wp", 1, "wp-w1-b", job_pools.STARTING, version=2)) == 2


def _me() -> Principal:
    return Principal(user=current_user(), role=Role.USER)


def _jobs(store: StateStore, *entries: tuple[str, str | None]) -> list[int]:
    task = Task(run="true").to_dict()
    made = ManagedJobs(store).create([
        {"name": "j", "user": user, "pool": pool, "tasks": [task], "resources": ["-"], "withheld": [], "envs": {}} for user, pool in entries
    ])
    return [job.id for job in made]


def test_the_queue_a_pool_scales_on_is_its_pending_jobs(db_url):
    with StateStore(db_url) as store:
        ids = _jobs(store, ("me", "wp"), ("me", "wp"), ("me", "other"), ("me", None))
        ManagedJobs(store).update(ids[1], status="RUNNING")
        assert JobPools(store).pending_jobs("wp") == 1 and JobPools(store).pending_jobs("none") == 0


def test_cancel_pool_cancels_only_the_callers_unfinished_jobs_of_that_pool(migrated_home):
    store = StateStore()
    JobPools(store).apply("wp", V1, 2)
    mine, theirs, elsewhere, done = _jobs(store, (current_user(), "wp"), ("mallory", "wp"), (current_user(), "other"), (current_user(), "wp"))
    ManagedJobs(store).update(done, status="SUCCEEDED")
    assert managed_jobs.cancel(store, _me(), schemas.ManagedJobsCancelBody(pool="wp")) == {"cancelled": [mine], "already_done": []}
    leases = ControllerLeases(store)
    assert [leases.cancel_requested(KIND, str(i)) for i in (mine, theirs, elsewhere)] == [True, False, False]
    with pytest.raises(NotFoundError, match="No pool named 'gone'"):
        managed_jobs.cancel(store, _me(), schemas.ManagedJobsCancelBody(pool="gone"))
