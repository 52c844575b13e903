"""Managed jobs behind the API: submission (with secrets kept out of the store), the queue, cancel, logs.

Secret values follow the request rules (services/submissions.py): what is
stored is the task with its secrets redacted; the values live only in the
memory of the server that received them (its jobs controller), enough to
launch every attempt. A server that restarts cannot launch such a job again
and says so (FAILED_CONTROLLER naming the values), while an attempt already
running continues to be followed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator

from skyhop.errors import NotFoundError, SkyhopError
from skyhop.server import schemas
from skyhop.server.auth import policy
from skyhop.server.auth.principal import Principal
from skyhop.server.services.submissions import REDACTED

#: How often a log follower looks for the next attempt or the end of the job.
FOLLOW_POLL_S = 1.0


def submit(store, controller, caller: Principal, payload: schemas.ManagedJobsLaunchBody) -> list[int]:
    """Validate every task (a 400 naming the field), store the jobs, hand the secret values to the controller."""
    from skyhop.execution.names import check_job_name
    from skyhop.execution.unsupported import check_supported
    from skyhop.spec.task import Task
    from skyhop.state.managed import ManagedJobs

    policy.require_writer(caller)
    if payload.pool is not None:
        from skyhop.server.services.job_pools import require_usable

        require_usable(store, caller, payload.pool)
    tasks = [Task.from_dict(t) for t in payload.tasks]  # raises a SpecError naming the field
    for task in tasks:
        check_supported(task, hosted=None if payload.pool is None else "jobs on pools")
        check_job_name(task.name)
        task.require_envs()
    if payload.pool is None:  # a pool job runs on the pool's workers, whatever the optimizer would say
        _feasible(tasks)
    full = [t.to_dict(redact_secrets=False) for t in tasks]
    stored = [t.to_dict(redact_secrets=True) for t in tasks]
    withheld = sorted({f"secret {name}" for t in stored for name, v in (t.get("secrets") or {}).items() if v == REDACTED})
    name = check_job_name(payload.name or tasks[0].name)  # --name too: it is shown in `jobs queue` and stored
    entries = [
        {"name": name, "user": caller.user, "workspace": caller.workspace, "tasks": stored, "resources": [resources_text(t) for t in tasks], "withheld": withheld,
         "envs": _rank_envs(rank, payload.num_jobs) if payload.num_jobs > 1 or payload.pool else {}, "pool": payload.pool}
        for rank in range(payload.num_jobs)
    ]
    records = ManagedJobs(store).create(entries)
    if controller is not None:
        if withheld:  # the values only this process has; other jobs launch from what is stored
            for record in records:
                controller.remember(record.id, full)
        controller.wake()
    return [r.id for r in records]


def _feasible(tasks: list) -> None:
    """Refuse at once a task nothing here can ever run (as `launch` does), rather than a job that ends
    FAILED_PRECHECKS later. A deadline policy chooses the market itself: on-demand alone must fit then.
    One search space for every task of a pipeline: surveying the infra may ask the clouds."""
    from dataclasses import replace

    from skyhop.planning.plan import plan_task
    from skyhop.planning.space import search_space
    from skyhop.spec.quantities import DEADLINE_STRATEGIES

    space = search_space(tasks)
    for task in tasks:
        recovery = task.resources.job_recovery
        if recovery is not None and recovery.strategy in DEADLINE_STRATEGIES:
            task = replace(task, resources=replace(task.resources, use_spot=False))
        plan_task(task, space)  # raises InfeasibleError: one paragraph naming the constraint


def _rank_envs(rank: int, num_jobs: int) -> dict[str, str]:
    """SKYPILOT_JOB_RANK (0..N-1) and SKYPILOT_NUM_JOBS (N), SkyPilot's names, with skyhop's twins."""
    return {f"{prefix}{key}": value for prefix in ("SKYPILOT_", "SKYHOP_") for key, value in (("JOB_RANK", str(rank)), ("NUM_JOBS", str(num_jobs)))}


def rows(
    store, caller: Principal, *, ids: list[int] | None = None, skip_finished: bool = False, all_users: bool = False, limit: int | None = None
) -> list[dict[str, Any]]:
    """`jobs queue`: one row per job, newest first, the `limit` newest when given (docs/json-output.md)."""
    from skyhop.jobs.states import TERMINAL_NAMES
    from skyhop.state.managed import ManagedJobs

    exclude = sorted(TERMINAL_NAMES) if skip_finished else ()
    jobs, attempts = ManagedJobs(store).listing(ids=ids, exclude=exclude, users=policy.owners(caller, all_users), limit=limit)
    by_job: dict[int, list] = {}
    for attempt in attempts:
        by_job.setdefault(attempt["job_id"], []).append(attempt)
    now = time.time()
    return [job_json(job, by_job.get(job["id"], []), now) for job in jobs]


def job_json(job: dict[str, Any], attempts: list[dict[str, Any]], now: float) -> dict[str, Any]:
    """A queue row from the job's columns and its attempts' (see `ManagedJobs.listing`)."""
    from skyhop.jobs.states import TERMINAL_NAMES

    data = dict(job)
    summaries = data.pop("resources") or ["-"]
    data["num_tasks"] = len(summaries)
    data["resources"] = summaries[min(job["current_task"], len(summaries) - 1)]
    end = job["ended_at"] if job["status"] in TERMINAL_NAMES else now
    data["duration_s"] = round(end - job["started_at"], 3) if job["started_at"] and end else None
    data["attempts"] = [attempt_json(a, now) for a in attempts]
    data["cost"] = round(sum(a["cost"] for a in data["attempts"]), 6)
    last = next((a for a in reversed(attempts) if a["provider"]), None)
    data["infra"] = "/".join(p for p in (last["provider"], last["region"], last["zone"]) if p) if last else None
    return data


def attempt_json(attempt: dict[str, Any], now: float) -> dict[str, Any]:
    """An attempt with its cost: billed from the cluster's launch to the attempt's end (or now)."""
    data = dict(attempt)
    launched = attempt["launched_at"]
    billed = max(0.0, (attempt["ended_at"] or now) - launched) if launched is not None else 0.0
    data["duration_s"] = round(billed, 3)
    data["cost"] = round(billed / 3600.0 * (attempt["hourly_price"] or 0.0), 6)
    return data


def resources_text(task) -> str:
    """`2x 4 CPUs, spot`: a task's resources as `jobs queue` shows them (computed once, at submission)."""
    return f"{task.num_nodes}x {task.resources.describe() or 'default'}"


def get(store, caller: Principal, job_id: int):
    """The job if the caller may see it: another user's job is not there for this one (as in `jobs queue`)."""
    job = _job(store, job_id)
    if job.user is not None and not policy.can_read(caller, job.user):
        raise NotFoundError(f"No managed job {job_id}; `skyhop jobs queue` lists them.")
    return job


def _job(store, job_id: int):
    from skyhop.state.managed import ManagedJobs

    job = ManagedJobs(store).get(job_id)
    if job is None:
        raise NotFoundError(f"No managed job {job_id}; `skyhop jobs queue` lists them.")
    return job


def _pool_exists(store, name: str) -> bool:
    from skyhop.state.job_pools import JobPools

    return JobPools(store).get(name) is not None


def _mine(caller: Principal, user: str | None) -> bool:
    """What cancel acts on without ids: the caller's own jobs (and those made before owners were recorded)."""
    return user in (None, caller.user)


def cancel(store, caller: Principal, body: schemas.ManagedJobsCancelBody) -> dict[str, Any]:
    """Set the cancel flag of each named unfinished job; its controller (in any server process) winds it down."""
    from skyhop.jobs.states import TERMINAL_NAMES
    from skyhop.state.controller_leases import ControllerLeases
    from skyhop.state.managed import KIND, ManagedJobs

    managed = ManagedJobs(store)
    if body.job_ids:
        jobs = [j for j in managed.find(ids=list(body.job_ids)) if j.user is None or policy.can_read(caller, j.user)]
        missing = sorted(set(body.job_ids) - {j.id for j in jobs})
        if missing:
            raise NotFoundError(f"No managed job(s) {', '.join(map(str, missing))}; `skyhop jobs queue` lists them.")
    elif body.name is not None:
        jobs = [j for j in managed.find(name=body.name) if _mine(caller, j.user)]
        if not jobs:
            raise NotFoundError(f"No managed job named {body.name!r}; `skyhop jobs queue` lists them.")
    elif body.pool is not None:
        jobs = [j for j in managed.find(pool=body.pool) if _mine(caller, j.user) and j.status not in TERMINAL_NAMES]
        if not jobs and not _pool_exists(store, body.pool):
            raise NotFoundError(f"No pool named {body.pool!r}; `skyhop jobs pool status` lists them.")
    else:
        jobs = [j for j in managed.find() if _mine(caller, j.user) and j.status not in TERMINAL_NAMES]
    for job in jobs:
        if job.user is not None:
            policy.require_write(caller, job.user, f"Managed job {job.id}")
    leases = ControllerLeases(store)
    cancelled, done = [], []
    for job in sorted(jobs, key=lambda j: j.id):
        if job.status not in TERMINAL_NAMES and leases.request_cancel(KIND, str(job.id)):
            cancelled.append(job.id)
        else:
            done.append(job.id)
    return {"cancelled": cancelled, "already_done": done}


def resume(store, controller, principal, job_id: int) -> dict[str, Any]:
    """`jobs resume`: a PAUSED job (a budget reached) back to PENDING, if its owner's budgets allow a launch now."""
    from skyhop.errors import ConflictError
    from skyhop.server.auth import policy
    from skyhop.server.services.budgets import check_budget
    from skyhop.state.managed import ManagedJobs

    job = get(store, principal, job_id)
    policy.require_write(principal, job.user, f"Managed job {job_id}")
    if job.status != "PAUSED":
        raise ConflictError(f"Managed job {job_id} is {job.status}, not PAUSED; only a paused job can be resumed.")
    check_budget(store, job.user or principal.user, job.workspace, what=f"job {job_id}", fresh=True)
    if not ManagedJobs(store).resume(job_id):
        raise ConflictError(f"Managed job {job_id} is no longer PAUSED (cancelled meanwhile?); see `skyhop jobs queue`.")
    if controller is not None:
        controller.wake()
    return {"job_id": job_id, "status": "PENDING"}


async def follow_logs(store, job_id: int, *, follow: bool) -> AsyncIterator[bytes]:
    """The job's output across its attempts, in order, each once: the running attempt live, the others from
    the copy the controller saves before their cluster goes (from where the live stream stopped, if it did)."""
    from skyhop.jobs.states import TERMINAL_NAMES
    from skyhop.server.controllers.jobs import output_file
    from skyhop.state.managed import ManagedJobs

    offsets: dict[int, int] = {}  # attempt id -> bytes of its output shown so far
    streamed: set[int] = set()  # attempts followed live (their end comes from the saved copy)
    finished: set[int] = set()
    while True:
        job = await asyncio.to_thread(_job, store, job_id)
        ended = job.status in TERMINAL_NAMES
        attempts = await asyncio.to_thread(ManagedJobs(store).attempts, job_id)
        for attempt in attempts:
            if attempt.agent_job_id is None or attempt.id in finished:
                continue
            saved = output_file(job_id, attempt)
            live = attempt.outcome is None and job.status == "RUNNING" and job.cluster == attempt.cluster and attempt.id not in streamed
            if not (saved.exists() or live):
                if ended or not follow:
                    finished.add(attempt.id)  # never saved (its cluster vanished first): nothing more to show
                    continue
                break  # not saved yet: the controller saves it before its cluster goes
            if attempt.id not in offsets:
                offsets[attempt.id] = 0
                if len(offsets) > 1 or attempt.attempt > 1 or attempt.task_index > 0:
                    yield f"[skyhop] Task {attempt.task_index}, attempt {attempt.attempt}, on '{attempt.cluster}':\n".encode()
            if saved.exists():
                for chunk in await asyncio.to_thread(_chunks, saved, offsets[attempt.id]):
                    yield chunk
                finished.add(attempt.id)
                continue
            streamed.add(attempt.id)
            async for chunk in _attempt_output(store, attempt.cluster, attempt.agent_job_id, follow, quiet=follow):
                offsets[attempt.id] += len(chunk)
                yield chunk
            if not follow:
                finished.add(attempt.id)
        if ended or not follow:
            reason = f": {job.failure_reason}" if job.failure_reason and ended else ""
            yield f"[skyhop] Job {job_id} is {job.status}{reason}.\n".encode()
            return
        await asyncio.sleep(FOLLOW_POLL_S)


async def _attempt_output(store, cluster: str, agent_job_id: int, follow: bool, *, quiet: bool) -> AsyncIterator[bytes]:
    """The attempt's output from its cluster; `quiet`: say nothing if it cannot be read (its saved copy will do)."""
    from skyhop.execution import lifecycle
    from skyhop.server.services.log_pipe import pipe

    try:
        _, stream = await asyncio.to_thread(lifecycle.log_stream, store, cluster, agent_job_id, follow=follow, tail=None)
    except SkyhopError as error:  # the attempt's cluster went away (preempted, torn down) before we could read it
        if not quiet:
            yield f"[skyhop] The output of job {agent_job_id} on '{cluster}' cannot be read now: {error}\n".encode()
        return
    async for chunk in pipe(stream):
        yield chunk


def _chunks(path, offset: int = 0) -> list[bytes]:
    with open(path, "rb") as f:
        f.seek(offset)
        return list(iter(lambda: f.read(65536), b""))


async def follow_controller_log(store, job_id: int, *, follow: bool) -> AsyncIterator[bytes]:
    """The controller's event log of the job (`jobs logs --controller`), followed until the job ends."""
    from skyhop.jobs.states import TERMINAL_NAMES
    from skyhop.server.controllers.jobs import controller_log
    from skyhop.server.services.log_pipe import follow_file

    async for chunk in follow_file(controller_log(job_id), lambda: _job(store, job_id).status in TERMINAL_NAMES, follow=follow, poll_s=FOLLOW_POLL_S):
        yield chunk


def annotate_costs(store, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cost-report lines with `managed_job` ({id, name, task, attempt}) on those that were a managed job's attempt.

    A line is one lifetime of a cluster name; an attempt's lifetime is the one
    launched between the attempt's start and its end (a job's clusters keep
    their name across attempts, so the time tells them apart).
    """
    from skyhop.state.managed import ManagedJobs

    managed = ManagedJobs(store)
    attempts = managed.attempts()
    if not attempts:
        return lines
    names = {job.id: job.name for job in managed.find(ids=sorted({a.job_id for a in attempts}))}
    by_cluster: dict[str, list] = {}
    for attempt in attempts:
        by_cluster.setdefault(attempt.cluster, []).append(attempt)
    now = time.time()
    out = []
    for line in lines:
        match = next(
            (a for a in by_cluster.get(line["cluster"], []) if a.started_at <= line["launched_at"] <= (a.ended_at or now)), None
        )
        if match is not None:
            line = dict(line, managed_job={"id": match.job_id, "name": names.get(match.job_id), "task": match.task_index, "attempt": match.attempt})
        out.append(line)
    return out
