"""Placement of managed jobs on a worker pool: the seam the jobs controller calls for a job with `pool`.

Such a job launches no cluster. PENDING, it waits in its pool's FIFO queue
(controllers/pool_dispatch.py) for a free READY worker (one job per worker at
a time, as SkyPilot's pools run them) and stays PENDING while all are busy. STARTING, it submits its run to that worker the
way `exec` does (no setup: the pool ran it once per worker); RUNNING is
followed like any job, on the worker's cluster. When the job ends the worker
is released, never torn down (it belongs to the pool); a cancelled job's
agent job is cancelled first. A job whose worker was preempted or replaced
goes back to PENDING (SkyPilot #7168), without counting against
max_restarts_on_errors, and runs on whichever worker frees up.

Resuming after a server restart: the submission is recorded in the attempt's
launch log; one cut short between submitting and recording is found in the
worker's agent queue (a job submitted after the attempt began: the worker was
this job's alone from its claim on, so nothing else can have submitted there).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from skyhop.errors import SkyhopError
from skyhop.jobs import names
from skyhop.jobs.states import FAILED, PREEMPTED, ManagedJobStatus
from skyhop.state import job_pools
from skyhop.state.job_pools import JobPools
from skyhop.state.records import AttemptRecord, ManagedJobRecord

if TYPE_CHECKING:
    from skyhop.server.controllers.jobs import JobRun

S = ManagedJobStatus

#: Longest a PENDING job waits for a worker before its run loop looks at the job again (a cancel ends it sooner).
WAIT_S = 300.0


async def acquire(run: JobRun, job: ManagedJobRecord) -> bool:
    """PENDING: True once the job holds a worker; False (after a wait) while none is free.

    The job waits in its pool's FIFO queue (controllers/pool_dispatch.py) rather
    than asking the store itself; the wait is cut short by a cancel, and ends
    after a while anyway so the run loop re-reads the job.
    """
    name = _pool_of(job)
    placement = await run.owner.dispatcher.wait(name, job.id, run.ctx, WAIT_S)
    if placement is None:
        return False
    if placement.gone:  # `pool down` cancels the pool's jobs
        await run._end(job, S.CANCELLED, f"its pool {job.pool!r} was taken down")
        return False
    worker = placement.worker
    assert worker is not None
    run._note(f"Placed on worker {worker.slot} ('{worker.cluster}') of pool {job.pool!r}.")
    return True


async def start_attempt(run: JobRun, job: ManagedJobRecord) -> None:
    """STARTING/RECOVERING: submit the job's run to its worker, then RUNNING."""
    from skyhop.server.controllers.jobs import _for_attempt, _open_attempt

    name = _pool_of(job)
    pools = JobPools(run.store)
    worker = await run._io(lambda: pools.held_by(name, job.id))
    attempts = await run._io(lambda: run.jobs.attempts(run.job_id))
    current = _open_attempt(attempts, job.current_task)
    if worker is not None and worker.status != job_pools.READY:
        worker = None
    if current is not None and (worker is None or current.cluster != worker.cluster):
        await _close(run, current, PREEMPTED, "its worker was replaced before the job started")
        current = None
    if worker is None:
        await back_to_pending(run, job, "its worker is gone")
        return
    task = run._tasks(job)[job.current_task]
    if current is None:
        current = await run._io(lambda: run.jobs.add_attempt(run.job_id, job.current_task, worker.cluster, None))
        await run._set(cluster=worker.cluster, agent_job_id=None)
        run._note(f"Task {job.current_task} attempt {current.attempt}: submitting to worker '{worker.cluster}' of pool {job.pool!r}.")
    attempt = current
    try:
        await run.owner.launching(lambda: _submit(run, job, _for_attempt(task, job, attempt), attempt))
    except SkyhopError as error:
        from skyhop.server.controllers.cluster_ops import why_lost

        lost = await run.owner.polling(lambda: why_lost(run.store, worker.cluster))
        if lost is not None:
            await _close(run, attempt, PREEMPTED, lost)
            await back_to_pending(run, job, lost, recovered=True)
            return
        await run._end(job, S.FAILED_PRECHECKS, f"Submitting to worker '{worker.cluster}' failed: {error}", attempt, FAILED)
        return
    await run._launched(job, attempt)


def _submit(run: JobRun, job: ManagedJobRecord, task, attempt: AttemptRecord) -> None:
    """Submit once: a submission already recorded, or found in the worker's queue, is adopted."""
    from skyhop.execution import handles, launch, lifecycle
    from skyhop.execution.progress import Progress
    from skyhop.server.controllers.jobs import attempt_log

    progress = Progress(attempt_log(run.job_id, attempt))
    try:
        if progress.recorded("job"):
            return
        record = lifecycle.require_up(run.store, attempt.cluster)
        queued = handles.agent_of(handles.cluster_info(record)).jobs()
        mine = [int(j["job_id"]) for j in queued if float(j.get("submitted_at") or 0) >= attempt.started_at]
        if mine:
            progress.submitted(max(mine))
            run._note(f"Attempt {attempt.attempt}: found its job {max(mine)} already submitted on '{attempt.cluster}'; following it.")
            return
        task_id = names.task_id(job.id, attempt.task_index, len(job.tasks))
        launch.exec_task(task, attempt.cluster, True, progress, run.store, task_id=task_id)
    finally:
        progress.close()


async def attempt_preempted(run: JobRun, job: ManagedJobRecord, reason: str | None) -> None:
    """The worker went while the job ran: back to PENDING, not counted as a restart on errors."""
    await back_to_pending(run, job, reason or "its worker was preempted", recovered=True)


async def back_to_pending(run: JobRun, job: ManagedJobRecord, reason: str, *, recovered: bool = False) -> None:
    """Give the worker back (as LOST when it went under the job) and wait for a free one in PENDING."""
    name = _pool_of(job)
    pools = JobPools(run.store)
    await run._io(lambda: pools.release(name, job.id, lost=recovered))
    run.owner.dispatcher.kick(name)
    run._note(f"Back to PENDING ({reason}); it runs on the next free worker of pool {job.pool!r}.")
    fields: dict[str, Any] = {"status": S.PENDING.value, "agent_job_id": None}
    if recovered:
        fields["recovery_count"] = job.recovery_count + 1
    await run._set(**fields)


async def release(run: JobRun, job: ManagedJobRecord) -> None:
    """The job ended: save its outputs, stop its agent job if it still runs (a cancel), give the worker back."""
    name = _pool_of(job)
    attempts = await run._io(lambda: run.jobs.attempts(run.job_id))
    fresh = await run._io(lambda: run.jobs.get(run.job_id))
    stopping = (S.CANCELLING.value, S.CANCELLED.value)
    if fresh is not None and fresh.agent_job_id is not None and fresh.cluster is not None and fresh.status in stopping:
        cluster, agent_job = fresh.cluster, fresh.agent_job_id
        await run.owner.polling(lambda: _cancel_agent_job(run.store, cluster, agent_job))
    await run._save_outputs(attempts)
    pools = JobPools(run.store)
    await run._io(lambda: pools.release(name, job.id))
    run.owner.dispatcher.kick(name)  # its worker is free: the next job in line gets it now, not at the next tick


def _cancel_agent_job(store, cluster: str, agent_job_id: int) -> None:
    from skyhop.execution import lifecycle

    try:
        lifecycle.cancel(store, cluster, [agent_job_id], all_jobs=False)
    except SkyhopError:  # the worker is gone: nothing runs there any more
        pass


def _pool_of(job: ManagedJobRecord) -> str:
    assert job.pool is not None, "only jobs with a pool are placed here"
    return job.pool


async def _close(run: JobRun, attempt: AttemptRecord, outcome: str, reason: str) -> None:
    now = time.time()
    await run._io(lambda: run.jobs.update_attempt(attempt.id, outcome=outcome, ended_at=now, failure_reason=reason))

