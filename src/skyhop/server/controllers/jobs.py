"""The managed-jobs controller: drives each managed job to its end on the controller base.

One asyncio task per job (`JobRun`), a resumable state machine whose every
step writes the next state before acting, so a server killed at any point
leaves a row that the next server (which claims the dead one's leases)
continues from:

    PENDING -> STARTING -> RUNNING -> SUCCEEDED
                  ^           |  preempted / restartable failure
                  |           v
                  +------ RECOVERING          any state -> CANCELLING -> CANCELLED
                                              any unfinished state -> PAUSED -> (jobs resume) PENDING

- STARTING/RECOVERING: first every cluster of the job that is not the current
  attempt's launched one is torn down (a previous attempt's, a previous task's,
  a launch cut short before it submitted its job); then the attempt is written
  (cluster name, market) and launched through the normal launch path
  (optimizer, failover, `detach`). The launch's own event log (one file per
  attempt) records its failed offers and the submitted job, so a launch
  resumed by another server follows the submitted job instead of running it
  twice; a job submitted but not yet recorded is found in the agent's queue
  of the (dedicated) cluster and adopted.
- RUNNING: every `poll_seconds`, the agent's job status and the provider's
  view of the cluster (`refresh`: the loss of any node, workers included, is
  a preemption); a finished job is checked for lost nodes before it counts as
  a failure of the program.
- PAUSED (a budget reached, issue 13; not SkyPilot's): the open attempt ends
  (`paused`), its output is saved and its cluster torn down; the job, its
  attempts and logs stay, and it waits until `jobs resume` or a cancel. A new
  attempt (a recovery, the next task) asks the budget first: a refused one
  pauses the job instead of launching.
- Every terminal state tears the job's clusters down (again after a restart:
  terminal rows are checked once more before the lease ends).

Blocking work (launch, teardown, agent calls) runs on two bounded thread pools
(launches may take minutes, polls must not wait behind them); the loop holds
no thread per job.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from sqlalchemy.exc import OperationalError

from skyhop import paths
from skyhop.errors import InfeasibleError, SkyhopError
from skyhop.jobs import names, recovery
from skyhop.jobs.market import Market, MarketPolicy, MarketView, policy_for
from skyhop.jobs.settings import JobsSettings
from skyhop.jobs.states import CANCELLED, FAILED, NO_RESOURCE, PAUSED, PREEMPTED, SUCCEEDED, SWITCHED, TERMINAL_NAMES, ManagedJobStatus
from skyhop.server.controllers import cluster_ops, pool_jobs
from skyhop.server.controllers.base import Controller, ControllerSettings, ObjectContext
from skyhop.server.controllers.pool_dispatch import PoolDispatcher
from skyhop.state.managed import KIND, ManagedJobs
from skyhop.state.records import AttemptRecord, ManagedJobRecord

if TYPE_CHECKING:
    from skyhop.server.job_access import JobAccess

log = logging.getLogger("skyhop.controllers.jobs")
S = ManagedJobStatus
T = TypeVar("T")

#: Agent calls that fail in a row (on a cluster the provider still sees whole) before the attempt counts as lost.
UNREACHABLE_POLLS = 3


def job_dir(job_id: int) -> Path:
    return paths.private_dir(paths.home() / "managed_jobs" / str(job_id))


def controller_log(job_id: int) -> Path:
    """The job's event log (`skyhop jobs logs --controller`): one line per decision of the controller."""
    return job_dir(job_id) / "controller.log"


def output_file(job_id: int, attempt: AttemptRecord) -> Path:
    """The attempt's job output, saved before its cluster is torn down (`skyhop jobs logs` after the fact)."""
    return job_dir(job_id) / f"output-{attempt.task_index}-{attempt.attempt}.log"


#: Most job output kept per attempt once its cluster is gone; the rest is cut with a note.
OUTPUT_MAX_BYTES = 64 * 1024 * 1024


def attempt_log(job_id: int, attempt: AttemptRecord) -> Path:
    """The launch's event log of one attempt (the request-log format of `skyhop.execution.progress`)."""
    return job_dir(job_id) / f"launch-{attempt.task_index}-{attempt.attempt}.log"


class JobsController:
    """Hosts every managed job of this server process (see the module doc)."""

    def __init__(self, store, settings: JobsSettings | None = None, *, only_user: str | None = None, job_access: JobAccess | None = None) -> None:
        self.store = store
        self.settings = settings or JobsSettings()
        self.only_user = only_user
        #: Each attempt of a job with `api_server_access` gets a token of its own (its cluster is its own).
        self.job_access = job_access
        self.jobs = ManagedJobs(store)
        base = ControllerSettings(tick_s=self.settings.tick_s, lease_ttl_s=self.settings.lease_s)
        self.controller = Controller(store, KIND, self._drive, base, accepts=self._own_jobs)
        #: Task mappings with their secret values, for jobs submitted to this process: never stored.
        self._secret_tasks: dict[int, list[dict[str, Any]]] = {}
        self._launch_pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="jobs-launch")
        self._poll_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="jobs-poll")
        #: Hands the pools' free workers to this process's PENDING pool jobs, in submission order.
        self.dispatcher = PoolDispatcher(store, self.settings.tick_s)

    def _own_jobs(self, object_ids: list[str]) -> list[str]:
        """A local server takes only the jobs of the user it acts for: their clusters live in that user's home,
        so a server of another user on a shared database must never take them over (it could neither reach nor
        remove them). A team server (`only_user` None) drives everyone's."""
        if self.only_user is None:
            return object_ids
        ids = [int(i) for i in object_ids if i.isdigit()]
        return [str(j.id) for j in self.jobs.find(ids=ids) if j.user in (None, self.only_user)]

    def remember(self, job_id: int, tasks: list[dict[str, Any]]) -> None:
        """Keep the full task mappings (secrets included) of a job submitted here, in memory only."""
        self._secret_tasks[job_id] = tasks

    def wake(self) -> None:
        self.controller.wake()

    async def _drive(self, ctx: ObjectContext) -> None:
        job_id = int(ctx.object_id)
        await JobRun(self, job_id, ctx).run()
        self._secret_tasks.pop(job_id, None)  # the job ended: its secret values are needed no more

    async def launching(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._launch_pool, work)

    async def polling(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._poll_pool, work)

    def shutdown(self) -> None:
        for pool in (self._launch_pool, self._poll_pool):
            pool.shutdown(wait=False, cancel_futures=True)


class JobRun:
    """One managed job being driven; every method re-reads what it needs from the store."""

    def __init__(self, owner: JobsController, job_id: int, ctx: ObjectContext) -> None:
        self.owner = owner
        self.jobs = owner.jobs
        self.store = owner.store
        self.job_id = job_id
        self.ctx = ctx
        self.unreachable = 0
        #: Per task, the last progress (0..1) the job itself reported (`SKYHOP_PROGRESS_FILE`), kept across attempts.
        self.reported_progress: dict[int, float] = {}
        #: The market policy of each task (one object per task, so a policy may keep state between calls).
        self._policies: dict[int, MarketPolicy] = {}

    # --- the state machine ----------------------------------------------------------

    async def run(self) -> None:
        first = await self._io(lambda: self.jobs.get(self.job_id))
        if first is not None and first.status not in (S.PENDING.value, *TERMINAL_NAMES):
            self._note(f"Resumed by controller {self.owner.controller.leases.owner} in {first.status}.")
        while True:
            job = await self._io(lambda: self.jobs.get(self.job_id))
            if job is None:
                return  # deleted under us: nothing to drive
            status = S(job.status)
            if status.terminal:
                await self._teardown_all()  # a server that died between the status and the teardown
                return
            if self.ctx.cancelled.is_set() and status is not S.CANCELLING:
                await self._set(status=S.CANCELLING.value)
                self._note(f"Cancel requested while {status.value}.")
                continue
            if status is S.PENDING:
                await self._pending(job)
            elif status in (S.STARTING, S.RECOVERING):
                await self._start_attempt(job)
            elif status is S.RUNNING:
                await self._running(job)
            elif status is S.CANCELLING:
                await self._cancelling(job)
            elif status is S.PAUSED:
                await self._paused(job)

    async def _pending(self, job: ManagedJobRecord) -> None:
        if job.pool is not None and not await pool_jobs.acquire(self, job):
            return  # all the pool's workers are busy: stay PENDING
        self._note(f"Picked up by controller {self.owner.controller.leases.owner}.")
        for index, task in enumerate(self._tasks(job, quiet=True)):
            plan = _recovery(task)
            if plan is not None and plan.deadline_seconds is not None and plan.runtime_seconds is not None:
                self._note(
                    f"Task {index}: {plan.strategy} picks spot or on-demand to finish {plan.runtime_seconds / 3600:.4g} h of work "
                    f"within {plan.deadline_seconds / 3600:.4g} h of submission (changeover {plan.changeover_seconds:g} s)."
                )
        await self._set(status=S.STARTING.value)

    async def _start_attempt(self, job: ManagedJobRecord) -> None:
        if job.pool is not None:  # placement on a worker of the pool instead of a cluster of its own
            await pool_jobs.start_attempt(self, job)
            return
        attempts = await self._io(lambda: self.jobs.attempts(self.job_id))
        current = _open_attempt(attempts, job.current_task)
        resumed = current
        found = await self._io(lambda: self._adopt(resumed)) if resumed is not None else _NEVER_SUBMITTED
        if resumed is not None and found == _ADOPTED:
            await self._launched(job, resumed)
            return
        if resumed is not None and found == _LOST:  # its job ran, and its cluster went while nobody watched
            await self._attempt_ended(job, resumed, PREEMPTED, "its cluster was gone when the controller came back", None)
            return
        await self._teardown_all()
        try:
            tasks = self._tasks(job)
        except SkyhopError as error:
            await self._end(job, S.FAILED_CONTROLLER, str(error), current, FAILED)
            return
        task = tasks[job.current_task]
        market = self._policy(job, task).choose(self._view(job, attempts, task, None))
        if market is Market.WAIT:
            await self.ctx.sleep(self.owner.settings.poll_s)
            return
        if current is None:
            refused = await self._io(lambda: self._over_budget(job))
            if refused is not None:
                await self._io(lambda: self.jobs.pause(self.job_id, refused))
                self._note(f"Task {job.current_task}: not launching another attempt: {refused}")
                return
            cluster = names.cluster_name(job.name, job.id, job.current_task, len(job.tasks))
            use_spot = market is Market.SPOT
            current = await self._io(lambda: self.jobs.add_attempt(self.job_id, job.current_task, cluster, use_spot))
            await self._set(cluster=cluster, agent_job_id=None)
            self._note(f"Task {job.current_task} attempt {current.attempt}: launching cluster '{cluster}' ({market.label}).")
        blocked = self._blocked(job, attempts)
        task = _for_attempt(task, job, current)
        failure = await self._try_launch(job, task, current, blocked)
        if failure is not None and blocked and _no_offer(failure):
            self._note(f"Nothing outside {recovery.describe(blocked)} can take the job; trying there too.")
            failure = await self._try_launch(job, task, current, ())
        if isinstance(failure, _StoreBusy):
            # The state database was busy (SQLite's lock under many launches at once): not the job's failure.
            # The attempt stays open, so the next pass adopts or tears down what this launch made, then launches again.
            self._note(f"Task {job.current_task} attempt {current.attempt}: the state database was busy ({failure}); launching again.")
            await self.ctx.sleep(self.owner.settings.poll_s)
        elif isinstance(failure, _Cancelled):
            await self._set(status=S.CANCELLING.value)
        elif failure is not None:
            await self._launch_failed(job, current, failure)
        else:
            await self._launched(job, current)

    async def _try_launch(self, job: ManagedJobRecord, task, attempt: AttemptRecord, blocked: tuple) -> Exception | None:
        """Launch the attempt; the error that stopped it, or None once its job is submitted."""
        try:
            await self.owner.launching(lambda: self._launch(job, task, attempt, blocked))
        except (_Cancelled, SkyhopError) as error:
            return error
        except OperationalError as error:  # the database, not the launch, failed (e.g. "database is locked")
            return _StoreBusy(str(error.orig or error))
        except Exception as error:  # a bug in the launch path or a provider: this job cannot go on
            log.exception("managed job %s: the launch failed unexpectedly", self.job_id)
            return error
        return None

    def _launch(self, job: ManagedJobRecord, task, attempt: AttemptRecord, blocked: tuple) -> None:
        from skyhop.execution import launch as launching
        from skyhop.execution.progress import Progress, RequestCancelled

        progress = Progress(attempt_log(self.job_id, attempt))
        progress.cancel_event = self.ctx.cancelled  # a cancel stops the launch between phases and removes what it made
        options = launching.LaunchOptions(
            cluster_name=attempt.cluster, owner=job.user or "unknown", workspace=job.workspace, detach_run=True, blocked=tuple(blocked),
            task_id=names.task_id(job.id, attempt.task_index, len(job.tasks)),
            api_access=None if self.owner.job_access is None else self.owner.job_access.grant,
        )
        try:
            launching.launch(task, options, progress, self.store)
        except RequestCancelled:
            raise _Cancelled() from None
        finally:
            progress.close()

    def _adopt(self, attempt: AttemptRecord) -> str:
        """How far the attempt's launch got: its job submitted and its cluster there (`_ADOPTED`), its job
        submitted but its cluster gone (`_LOST`), or no job submitted (`_NEVER_SUBMITTED`).

        The attempt's cluster is used by this attempt alone, so a job in its
        agent's queue is this attempt's job even if the launch died before
        recording it: it is adopted, never submitted a second time.
        """
        from skyhop.execution import handles, lifecycle
        from skyhop.execution.locks import cluster_lock
        from skyhop.execution.progress import Progress

        progress = Progress(attempt_log(self.job_id, attempt))
        try:
            if progress.recorded("job"):
                return _ADOPTED if self.store.get_cluster(attempt.cluster) is not None else _LOST
            with cluster_lock(attempt.cluster):
                record = lifecycle.refreshed(self.store, attempt.cluster)
            if record is None or record.status != "UP":
                return _NEVER_SUBMITTED
            try:
                queued = handles.agent_of(handles.cluster_info(record)).jobs()
            except SkyhopError:
                return _NEVER_SUBMITTED
            if not queued:
                return _NEVER_SUBMITTED
            job_id = max(int(j["job_id"]) for j in queued)
            progress.submitted(job_id)
            self._note(f"Attempt {attempt.attempt}: found its job {job_id} already submitted on '{attempt.cluster}'; following it.")
            return _ADOPTED
        finally:
            progress.close()

    async def _launched(self, job: ManagedJobRecord, attempt: AttemptRecord) -> None:
        """The attempt's job is submitted: record where it runs, then RUNNING."""

        def record() -> tuple[AttemptRecord, int]:
            from skyhop.execution.progress import Progress

            progress = Progress(attempt_log(self.job_id, attempt))
            try:
                agent_job_id = int(progress.recorded("job")[-1])
            finally:
                progress.close()
            cluster = self.store.get_cluster(attempt.cluster)
            fields: dict[str, Any] = {"agent_job_id": agent_job_id}
            if cluster is not None and attempt.launched_at is None:
                resources = cluster.resources or {}
                fields.update(
                    provider=cluster.provider, region=cluster.region, zone=cluster.zone, instance_type=resources.get("instance_type"),
                    spot=bool(resources.get("use_spot")), hourly_price=cluster.hourly_price, launched_at=cluster.launched_at or time.time(),
                )
            return self.jobs.update_attempt(attempt.id, **fields), agent_job_id

        attempt, agent_job_id = await self._io(record)
        started = job.started_at or time.time()
        await self._set(status=S.RUNNING.value, agent_job_id=agent_job_id, cluster=attempt.cluster, started_at=started)
        where = "/".join(p for p in (attempt.provider, attempt.region, attempt.zone) if p)
        market = "spot" if attempt.spot else "on-demand"
        price = f", ${attempt.hourly_price:.4g}/h" if attempt.hourly_price is not None else ""
        self._note(f"Task {attempt.task_index} attempt {attempt.attempt}: job {agent_job_id} runs on '{attempt.cluster}' ({where}, {attempt.instance_type}, {market}{price}).")

    async def _launch_failed(self, job: ManagedJobRecord, attempt: AttemptRecord, error: Exception) -> None:
        from skyhop.execution.unsupported import NotSupportedYet
        from skyhop.spec.errors import SpecError

        first = attempt.attempt == 1 and job.current_task == 0 and job.recovery_count == 0
        waits = attempt.use_spot and self._policy(job, self._tasks(job, quiet=True)[job.current_task]).waits_for_spot
        if waits and isinstance(error, SkyhopError) and not isinstance(error, (SpecError, NotSupportedYet)):
            await self._spot_refused(attempt, str(error))  # no spot anywhere it may run: the policy decides again
            return
        if not isinstance(error, SkyhopError):
            status, reason = S.FAILED_CONTROLLER, f"internal error while launching ({type(error).__name__}: {error}); see the API server's log"
        elif isinstance(error, (SpecError, NotSupportedYet)) or (isinstance(error, InfeasibleError) and first):
            status, reason = S.FAILED_PRECHECKS, str(error)
        else:
            status, reason = S.FAILED_NO_RESOURCE, str(error)
        await self._end(job, status, reason, attempt, NO_RESOURCE)

    async def _spot_refused(self, attempt: AttemptRecord, reason: str) -> None:
        """No spot capacity for a deadline policy: the attempt ends, the policy decides again knowing it."""
        now = time.time()
        await self._io(lambda: self.jobs.update_attempt(attempt.id, outcome=NO_RESOURCE, ended_at=now, failure_reason=reason))
        self._note(f"Task {attempt.task_index} attempt {attempt.attempt}: no spot capacity ({reason}); the deadline policy decides again.")
        await self._set(status=S.RECOVERING.value)

    async def _running(self, job: ManagedJobRecord) -> None:
        attempts = await self._io(lambda: self.jobs.attempts(self.job_id))
        attempt = _open_attempt(attempts, job.current_task) or (attempts[-1] if attempts else None)
        if attempt is None or job.agent_job_id is None or job.cluster is None:
            await self._set(status=S.STARTING.value)  # a RUNNING row without an attempt: start one
            return
        task = self._tasks(job, quiet=True)[job.current_task]
        market = Market.SPOT if (attempt.spot if attempt.spot is not None else attempt.use_spot) else Market.ON_DEMAND
        while not self.ctx.cancelled.is_set():
            seen = await self.owner.polling(lambda: self._observe(job))
            if seen is not None:
                await self._attempt_ended(job, attempt, *seen)
                return
            fresh = await self._io(lambda: self.jobs.get(self.job_id))
            if fresh is None or fresh.status != job.status:
                return  # paused (a budget) or changed by another writer: the state machine takes it from there
            move = self._policy(job, task).on_poll(self._view(job, attempts, task, market))
            if move is not None and move is not market:
                await self._switch_market(attempt, market, move)
                return
            await self.ctx.sleep(self.owner.settings.poll_s)

    async def _paused(self, job: ManagedJobRecord) -> None:
        """A budget paused the job: end the open attempt, keep its output, take its cluster down, then wait."""
        if job.pool is None:
            attempts = await self._io(lambda: self.jobs.attempts(self.job_id))
            attempt = _open_attempt(attempts, job.current_task)
            if attempt is not None:
                why = job.failure_reason or "paused"
                await self._io(lambda: self.jobs.update_attempt(attempt.id, outcome=PAUSED, ended_at=time.time(), failure_reason=why))
                self._note(f"Task {attempt.task_index} attempt {attempt.attempt}: paused ({why}); tearing its cluster down, keeping the job.")
            await self._teardown_all()
        await self.ctx.sleep(self.owner.settings.poll_s)

    def _over_budget(self, job: ManagedJobRecord) -> str | None:
        """Why a new attempt of the job may not launch (a budget of its owner reached), or None."""
        from skyhop.server.services import budgets

        found = budgets.over_budget(self.store, job.user, job.workspace)
        return None if found is None else budgets.refusal_text(*found)

    async def _switch_market(self, attempt: AttemptRecord, current: Market, move: Market) -> None:
        """The market policy wants another market now: end this attempt and start one there (not a recovery)."""
        now = time.time()
        why = f"the market policy moved the job from {current.label} to {move.label}"
        await self._io(lambda: self.jobs.update_attempt(attempt.id, outcome=SWITCHED, ended_at=now, failure_reason=why))
        self._note(f"Task {attempt.task_index} attempt {attempt.attempt}: {why}.")
        await self._set(status=S.RECOVERING.value)

    def _observe(self, job: ManagedJobRecord) -> tuple[str, str | None, dict[str, Any] | None] | None:
        """None while the job runs; else (outcome, reason, the agent's job record if it ended)."""
        from skyhop.execution import handles, lifecycle
        from skyhop.state.records import JOB_FINISHED

        assert job.cluster is not None and job.agent_job_id is not None
        record = self.store.get_cluster(job.cluster)
        if record is not None:
            record = lifecycle.refresh(self.store, record, have_lock=False)
        if record is None:
            return PREEMPTED, "the cluster is gone", None
        if record.status == "INIT" and record.status_reason:
            return PREEMPTED, record.status_reason, None
        if record.status == "STOPPED":
            return PREEMPTED, "the cluster was stopped", None
        try:
            agent_job = handles.agent_of(handles.cluster_info(record)).jobs([job.agent_job_id])[0]
        except SkyhopError as error:
            self.unreachable += 1
            if self.unreachable >= UNREACHABLE_POLLS:
                return PREEMPTED, f"its head stopped answering ({error})", None
            return None
        self.unreachable = 0
        if isinstance(agent_job.get("progress"), (int, float)):
            self.reported_progress[job.current_task] = float(agent_job["progress"])
        if agent_job["status"] not in JOB_FINISHED:
            return None
        if agent_job["status"] == "SUCCEEDED":
            return SUCCEEDED, None, agent_job
        lost = lifecycle.lost_nodes(self.store, job.cluster)  # a gang that lost a worker fails: that is a preemption
        if lost:
            return PREEMPTED, lost, agent_job
        return FAILED, agent_job.get("failure_reason") or f"the job ended {agent_job['status']}", agent_job

    async def _attempt_ended(self, job: ManagedJobRecord, attempt: AttemptRecord, outcome: str, reason: str | None, agent_job: dict[str, Any] | None) -> None:
        now = time.time()
        if outcome != SUCCEEDED and (self.ctx.cancelled.is_set() or await self._io(self._cancel_asked)):
            # Cancelled while the poll saw its end (`pool down` stops a worker's jobs, then the flag reaches this
            # task at the next tick): the end is the cancel's doing, not a failure or a preemption.
            await self._io(lambda: self.jobs.update_attempt(attempt.id, outcome=CANCELLED, ended_at=now, failure_reason="cancelled"))
            await self._set(status=S.CANCELLING.value)
            return
        await self._io(lambda: self.jobs.update_attempt(attempt.id, outcome=outcome, ended_at=now, failure_reason=reason))
        label = f"Task {attempt.task_index} attempt {attempt.attempt}"
        if outcome == PREEMPTED and job.pool is not None:
            self._note(f"{label}: its worker was preempted ({reason}).")
            await pool_jobs.attempt_preempted(self, job, reason)
        elif outcome == PREEMPTED:
            self._note(f"{label}: preempted ({reason}); recovering.")
            await self._set(status=S.RECOVERING.value, recovery_count=job.recovery_count + 1)
        elif outcome == SUCCEEDED:
            if job.current_task + 1 < len(job.tasks):
                self._note(f"{label}: task {job.current_task} succeeded; starting task {job.current_task + 1}.")
                await self._set(status=S.STARTING.value, current_task=job.current_task + 1, agent_job_id=None)
            else:
                self._note(f"{label}: succeeded.")
                await self._end(job, S.SUCCEEDED, None)
        else:
            assert agent_job is not None
            tasks = self._tasks(job, quiet=True)
            decision = recovery.after_failure(_recovery(tasks[job.current_task]), agent_job.get("exit_code"), job.restarts_on_errors)
            code = agent_job.get("exit_code")
            if decision is recovery.AfterFailure.FAIL:
                self._note(f"{label}: failed (exit code {code}: {reason}); no restarts left.")
                status = S.FAILED_SETUP if agent_job["status"] == "FAILED_SETUP" else S.FAILED
                await self._end(job, status, f"{reason} (exit code {code})" if code is not None else reason)
            else:
                counted = decision is recovery.AfterFailure.RESTART_ON_ERROR
                why = "max_restarts_on_errors" if counted else "recover_on_exit_codes"
                self._note(f"{label}: failed (exit code {code}); restarting ({why}).")
                await self._set(
                    status=S.RECOVERING.value, recovery_count=job.recovery_count + 1,
                    restarts_on_errors=job.restarts_on_errors + (1 if counted else 0),
                )

    async def _cancelling(self, job: ManagedJobRecord) -> None:
        """CANCELLING is resumable, so here the clusters go first and CANCELLED means they are gone."""
        attempts = await self._io(lambda: self.jobs.attempts(self.job_id))
        attempt = _open_attempt(attempts, job.current_task)
        if attempt is not None:
            await self._io(lambda: self.jobs.update_attempt(attempt.id, outcome=CANCELLED, ended_at=time.time(), failure_reason="cancelled by the user"))
        await self._teardown_all()
        await self._end(job, S.CANCELLED, "cancelled by the user")

    async def _end(self, job: ManagedJobRecord, status: S, reason: str | None, attempt: AttemptRecord | None = None, outcome: str | None = None) -> None:
        """A terminal state: close the open attempt, save the output, write the status, then take every cluster of
        the job down (a server that dies in between does that when the job's lease is taken over)."""
        now = time.time()
        if attempt is not None and attempt.outcome is None:
            await self._io(lambda: self.jobs.update_attempt(attempt.id, outcome=outcome, ended_at=now, failure_reason=reason))
        # Before the status: whoever reads an ended job's logs finds its output saved.
        await self._save_outputs(await self._io(lambda: self.jobs.attempts(self.job_id)))
        await self._set(status=status.value, ended_at=now, failure_reason=reason)
        self._note(f"{status.value}" + (f": {reason}" if reason else "."))
        await self._teardown_all()

    # --- helpers ----------------------------------------------------------------------

    async def _teardown_all(self) -> None:
        """Remove every cluster of the job except the running attempt's (none, once the job ended), keeping their output."""
        fresh = await self._io(lambda: self.jobs.get(self.job_id))
        if fresh is not None and fresh.pool is not None:  # its clusters are the pool's workers: give the worker back
            await pool_jobs.release(self, fresh)
            return
        keep = fresh.cluster if fresh is not None and fresh.status == S.RUNNING.value else None
        attempts = await self._io(lambda: self.jobs.attempts(self.job_id))
        for name in sorted({a.cluster for a in attempts} - {keep}):
            if await self._io(functools.partial(self.store.get_cluster, name)) is None:
                continue
            await self._save_outputs([a for a in attempts if a.cluster == name])
            self._note(f"Tearing down cluster '{name}'.")
            await self.owner.launching(functools.partial(cluster_ops.teardown, self.store, name))

    async def _save_outputs(self, attempts: list[AttemptRecord]) -> None:
        for attempt in attempts:
            if attempt.agent_job_id is not None and not output_file(self.job_id, attempt).exists():
                await self.owner.launching(functools.partial(self._save_output, attempt))

    def _save_output(self, attempt: AttemptRecord) -> None:
        """Copy the attempt's job output off its cluster (bounded), so `jobs logs` still shows it afterwards."""
        from skyhop.execution import lifecycle

        assert attempt.agent_job_id is not None
        target = output_file(self.job_id, attempt)
        partial = target.with_suffix(".part")
        try:
            _, stream = lifecycle.log_stream(self.store, attempt.cluster, attempt.agent_job_id, follow=False, tail=None)
        except SkyhopError as error:
            target.write_text(f"[skyhop] The output of attempt {attempt.attempt} could not be saved: {error}\n")
            return
        try:
            with partial.open("wb") as f:
                written = 0
                for chunk in iter(lambda: stream.read1(65536), b""):
                    if written + len(chunk) > OUTPUT_MAX_BYTES:
                        f.write(b"\n[skyhop] Output cut at the size cap of a saved attempt log.\n")
                        break
                    f.write(chunk)
                    written += len(chunk)
        finally:
            stream.stop()
            stream.close()
        partial.replace(target)

    def _tasks(self, job: ManagedJobRecord, *, quiet: bool = False) -> list:
        """The job's tasks as `Task`s, with their secret values when this process received them."""
        from skyhop.spec.task import Task

        full = self.owner._secret_tasks.get(self.job_id)
        if full is None and job.withheld and not quiet:
            raise SkyhopError(
                f"The API server restarted and this job needs the values of {', '.join(job.withheld)} to launch again; they are "
                "never stored, so the new server does not have them. Launch the job again with `skyhop jobs launch`."
            )
        return [Task.from_dict(t) for t in (full or job.tasks)]

    def _blocked(self, job: ManagedJobRecord, attempts: list[AttemptRecord]) -> tuple:
        mine = [a for a in attempts if a.task_index == job.current_task and a.outcome is not None]
        if not mine or mine[-1].outcome != PREEMPTED:
            return ()
        last = mine[-1]
        tasks = self._tasks(job, quiet=True)
        blocked = recovery.blocked_after_preemption(_recovery(tasks[job.current_task]), last.provider, last.region)
        if blocked:
            self._note(f"EAGER_NEXT_REGION: the next attempt avoids {recovery.describe(blocked)}.")
        return blocked

    def _policy(self, job: ManagedJobRecord, task) -> MarketPolicy:
        if job.current_task not in self._policies:
            self._policies[job.current_task] = policy_for(_recovery(task), self.owner.settings.spot_retry_s)
        return self._policies[job.current_task]

    def _view(self, job: ManagedJobRecord, attempts: list[AttemptRecord], task, current: Market | None) -> MarketView:
        now = time.time()
        mine = [a for a in attempts if a.task_index == job.current_task]
        runs = tuple((a.ended_at or now) - a.launched_at for a in mine if a.launched_at is not None)
        refused = [a.ended_at for a in mine if a.use_spot and a.outcome == NO_RESOURCE and a.ended_at is not None]
        return MarketView(
            job_id=job.id, now=now, submitted_at=job.submitted_at, run_seconds=sum(runs), recovery_count=job.recovery_count,
            current=current, task_spot=bool(task.resources.use_spot), runs=runs, spot_refused_at=max(refused, default=None),
            progress=self.reported_progress.get(job.current_task),
        )

    def _cancel_asked(self) -> bool:
        return self.owner.controller.leases.cancel_requested(KIND, str(self.job_id))

    async def _set(self, **fields: Any) -> ManagedJobRecord:
        return await self._io(lambda: self.jobs.update(self.job_id, **fields))

    async def _io(self, work: Callable[[], T]) -> T:
        """A short state-store call, off the loop (not on the poll pool: a hanging agent must not hold up the database)."""
        return await asyncio.to_thread(work)

    def _note(self, text: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
        log.info("managed job %s: %s", self.job_id, text)
        try:
            with controller_log(self.job_id).open("a", encoding="utf-8") as f:
                f.write(f"{stamp} {text}\n")
        except OSError:
            log.warning("managed job %s: cannot write the controller log:\n%s", self.job_id, traceback.format_exc())


# What `_adopt` finds of an attempt a previous controller launched.
_ADOPTED = "adopted"
_LOST = "lost"
_NEVER_SUBMITTED = "never submitted"


class _Cancelled(Exception):
    """The launch saw the cancel flag and removed what it created."""


class _StoreBusy(Exception):
    """The launch stopped on a transient error of the state database; the attempt is tried again."""


def _open_attempt(attempts: list[AttemptRecord], task_index: int) -> AttemptRecord | None:
    mine = [a for a in attempts if a.task_index == task_index]
    return mine[-1] if mine and mine[-1].outcome is None else None


def _recovery(task):
    return task.resources.job_recovery


def _for_attempt(task, job: ManagedJobRecord, attempt: AttemptRecord):
    """The task as this attempt runs it: the market chosen for it, and the job's own variables."""
    envs = dict(task.envs)
    envs.update(job.envs)
    for prefix in ("SKYPILOT_", "SKYHOP_"):
        envs[f"{prefix}NUM_RECOVERIES"] = str(job.recovery_count)
    if attempt.use_spot is not None and attempt.use_spot != bool(task.resources.use_spot):
        task = replace(task, resources=task.resources.with_overrides(use_spot=attempt.use_spot))
    return replace(task, envs=envs)


def _no_offer(error: Exception) -> bool:
    from skyhop.planning.failover import FailoverError

    return isinstance(error, (InfeasibleError, FailoverError))
