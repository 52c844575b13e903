"""Managed jobs belong to the user who launched them: another user's server on a shared database neither
drives them (it could not reach or remove their clusters, which live in the owner's home) nor lets its
user see, follow or cancel them (found by review: a second user's server took over a job whose owner's
server died, and the job stuck with its cluster up; any user could cancel anyone's job)."""

from __future__ import annotations

import pytest

from skyhop.errors import NotFoundError
from skyhop.identity import current_user
from skyhop.server import schemas
from skyhop.server.auth.principal import Principal, Role
from skyhop.server.controllers.jobs import JobsController
from skyhop.server.services import managed_jobs
from skyhop.spec.task import Task
from skyhop.state.managed import ManagedJobs
from skyhop.state.store import StateStore


def _jobs(store: StateStore) -> dict[str, int]:
    task = Task(run="true").to_dict()
    made = ManagedJobs(store).create([
        {"name": "mine", "user": current_user(), "tasks": [task], "resources": ["-"], "withheld": [], "envs": {}},
        {"name": "theirs", "user": "mallory", "tasks": [task], "resources": ["-"], "withheld": [], "envs": {}},
    ])
    return {job.name: job.id for job in made}


def test_a_server_claims_only_its_own_users_jobs(migrated_home):
    store = StateStore()
    ids = _jobs(store)
    controller = JobsController(store, only_user=current_user())
    try:
        assert controller._own_jobs([str(ids["mine"]), str(ids["theirs"]), "junk"]) == [str(ids["mine"])]
    finally:
        controller.shutdown()


def test_a_team_server_drives_every_users_jobs(migrated_home):
    store = StateStore()
    ids = _jobs(store)
    controller = JobsController(store, only_user=None)
    try:
        assert controller._own_jobs([str(ids["mine"]), str(ids["theirs"])]) == [str(ids["mine"]), str(ids["theirs"])]
    finally:
        controller.shutdown()


def test_another_users_job_cannot_be_seen_followed_or_cancelled(migrated_home):
    store = StateStore()
    ids = _jobs(store)
    me = Principal(user=current_user(), role=Role.USER)
    assert managed_jobs.get(store, me, ids["mine"]).name == "mine"
    with pytest.raises(NotFoundError):
        managed_jobs.get(store, me, ids["theirs"])  # the logs route asks this first: a 404
    for body in (schemas.ManagedJobsCancelBody(job_ids=[ids["theirs"]]), schemas.ManagedJobsCancelBody(name="theirs")):
        with pytest.raises(NotFoundError):
            managed_jobs.cancel(store, me, body)
    cancelled = managed_jobs.cancel(store, me, schemas.ManagedJobsCancelBody(all=True))
    assert cancelled == {"cancelled": [ids["mine"]], "already_done": []}
    assert [row["name"] for row in managed_jobs.rows(store, me)] == ["mine"]


@pytest.mark.parametrize("name", ["a\x1b[2Jb", "two\nlines"])
def test_a_job_name_given_apart_from_the_task_is_checked_like_a_task_name(migrated_home, name):
    """`jobs launch -n NAME` once stored escape sequences (they cleared the screen in `jobs queue`) and,
    at 256 characters, was a 500 on PostgreSQL (the column holds 255): the body refuses that one (a 422)."""
    from pydantic import ValidationError

    from skyhop.errors import SkyhopError

    with pytest.raises(ValidationError, match="at most 255"):
        schemas.ManagedJobsLaunchBody(tasks=[Task(run="true").to_dict()], name="n" * 256)
    payload = schemas.ManagedJobsLaunchBody(tasks=[Task(run="true").to_dict()], name=name)
    with pytest.raises(SkyhopError, match="printable"):
        managed_jobs.submit(StateStore(), None, Principal(user=current_user(), role=Role.USER), payload)
    assert ManagedJobs(StateStore()).find() == []


def test_an_attempt_that_ends_under_a_cancel_is_cancelled_not_failed(migrated_home):
    """`pool down` stops a worker's jobs and sets their cancel flags; a poll that saw the job end before the
    flag reached the job's task marked it FAILED ("cluster jobs stopped"), found by CI under load."""
    import asyncio

    from skyhop.server.controllers.base import ObjectContext
    from skyhop.server.controllers.jobs import JobRun
    from skyhop.state.controller_leases import ControllerLeases
    from skyhop.state.managed import KIND

    store = StateStore()
    ids = _jobs(store)
    managed = ManagedJobs(store)
    attempt = managed.add_attempt(ids["mine"], 0, "mine-1", False)
    assert ControllerLeases(store).request_cancel(KIND, str(ids["mine"]))
    controller = JobsController(store, only_user=current_user())
    try:
        async def end() -> None:
            run = JobRun(controller, ids["mine"], ObjectContext(str(ids["mine"])))
            job = managed.get(ids["mine"])
            await run._attempt_ended(job, attempt, "failed", "cluster jobs stopped", {"status": "FAILED", "exit_code": None})

        asyncio.run(end())
    finally:
        controller.shutdown()
    assert managed.get(ids["mine"]).status == "CANCELLING"
    assert [a.outcome for a in managed.attempts(ids["mine"])] == ["cancelled"]
