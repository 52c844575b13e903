"""The managed jobs and their attempts in the state store (tables of revision 0005).

A job row is created together with its controller lease (one transaction), so
a job can never exist without a controller eventually claiming it. Writes are
short transactions like the rest of the store; the controller writes a job's
next status *before* acting on it (launch, teardown), so a server killed at any
point leaves a row that says what to do next.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, or_, select, update

from skyhop.state.errors import StateError
from skyhop.state.models import ControllerLease, ManagedJob, ManagedJobAttempt
from skyhop.state.records import AttemptRecord, ManagedJobRecord
from skyhop.state.store import StateStore, _record

#: The controller kind of managed jobs (controller_leases.kind).
KIND = "managed_job"
PAUSED = "PAUSED"
#: The controller's own moves, which never take a job out of PAUSED (see `update`).
_FORWARD = frozenset({"STARTING", "RUNNING", "RECOVERING"})

_JOB_FIELDS = frozenset(
    {"status", "current_task", "recovery_count", "restarts_on_errors", "cluster", "agent_job_id", "started_at", "ended_at", "failure_reason"}
)
_ATTEMPT_FIELDS = frozenset(
    {"provider", "region", "zone", "instance_type", "spot", "hourly_price", "agent_job_id", "launched_at", "ended_at", "outcome", "failure_reason"}
)


class ManagedJobs:
    """Reads and writes of managed jobs (see the module doc)."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    def create(self, entries: Sequence[Mapping[str, Any]]) -> list[ManagedJobRecord]:
        """New PENDING jobs, each with its unowned lease: `name`, `user`, `workspace`, `tasks`, `resources`, `envs`, `withheld`, `pool` per entry."""
        now = time.time()
        with self._store._write() as session:
            rows = [
                ManagedJob(
                    name=e.get("name"), user=e.get("user"), workspace=e.get("workspace"), status="PENDING", tasks=list(e["tasks"]), resources=list(e.get("resources") or []),
                    envs=dict(e.get("envs") or {}),
                    withheld=list(e.get("withheld") or []), current_task=0, recovery_count=0, restarts_on_errors=0, cluster=None,
                    agent_job_id=None, submitted_at=now, started_at=None, ended_at=None, updated_at=now, failure_reason=None,
                    pool=e.get("pool"),
                )
                for e in entries
            ]
            session.add_all(rows)
            session.flush()
            session.add_all(ControllerLease(kind=KIND, object_id=str(r.id), owner=None, cancel_requested=False, claimed_at=None) for r in rows)
            return [_job(r) for r in rows]

    def get(self, job_id: int) -> ManagedJobRecord | None:
        with self._store._read() as session:
            row = session.get(ManagedJob, job_id)
            return None if row is None else _job(row)

    def find(self, *, ids: Sequence[int] | None = None, name: str | None = None, pool: str | None = None) -> list[ManagedJobRecord]:
        """Jobs, newest first; filtered by ids, name and pool when given."""
        query = select(ManagedJob).order_by(ManagedJob.id.desc())
        if pool is not None:
            query = query.where(ManagedJob.pool == pool)
        if ids is not None:
            query = query.where(ManagedJob.id.in_(list(ids)))
        if name is not None:
            query = query.where(ManagedJob.name == name)
        with self._store._read() as session:
            return [_job(r) for r in session.scalars(query)]

    def update(self, job_id: int, **fields: Any) -> ManagedJobRecord:
        """Change fields of a job (its status included); `updated_at` is set to now.

        PAUSED is sticky: a controller's forward move (STARTING, RUNNING, RECOVERING) written while a budget
        paused the job, under the same row lock, leaves the status PAUSED (its other fields are written), so
        a pause never loses a race with a launch that was finishing; only `resume`, a cancel or an end moves it on."""
        unknown = sorted(set(fields) - _JOB_FIELDS)
        if unknown:
            raise ValueError(f"Cannot update managed job field(s) {', '.join(unknown)}.")
        with self._store._write() as session:
            row = session.scalars(select(ManagedJob).where(ManagedJob.id == job_id).with_for_update()).one_or_none()
            if row is None:
                raise StateError(f"No managed job {job_id}.")
            if row.status == PAUSED and fields.get("status") in _FORWARD:
                fields = {k: v for k, v in fields.items() if k != "status"}
            for key, value in fields.items():
                setattr(row, key, value)
            row.updated_at = time.time()
            session.flush()
            return _job(row)

    def pause(self, job_id: int, reason: str) -> bool:
        """PAUSED (a budget reached), unless the job ended, is being cancelled or is paused already; whether it was paused."""
        from skyhop.jobs.states import TERMINAL_NAMES

        with self._store._write() as session:
            changed = session.execute(
                update(ManagedJob)
                .where(ManagedJob.id == job_id, ManagedJob.status.not_in([*TERMINAL_NAMES, PAUSED, "CANCELLING"]))
                .values(status=PAUSED, failure_reason=reason, updated_at=time.time())
            )
        return bool(getattr(changed, "rowcount", 0))

    def resume(self, job_id: int) -> bool:
        """PAUSED -> PENDING (its controller starts a new attempt); False when the job was not PAUSED."""
        with self._store._write() as session:
            changed = session.execute(
                update(ManagedJob).where(ManagedJob.id == job_id, ManagedJob.status == PAUSED)
                .values(status="PENDING", failure_reason=None, updated_at=time.time())
            )
        return bool(getattr(changed, "rowcount", 0))

    def listing(
        self, *, ids: Sequence[int] | None = None, exclude: Sequence[str] = (), users: Sequence[str] | None = None, limit: int | None = None,
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(jobs, their attempts) as plain dicts of columns, newest job first, for `jobs queue`: the jobs
        with `ids`, not in the statuses `exclude`, of `users` (and of nobody) when given, the `limit` newest.

        Reads neither the task mappings nor the redaction lists, and builds no
        records: a queue of thousands of jobs is one cheap query per table, and
        the filters and the limit are the database's work, not Python's.
        """
        hidden = {"tasks", "withheld", "envs"}
        job_columns = [c for c in ManagedJob.__table__.columns if c.name not in hidden]
        jobs_query = select(*job_columns).order_by(ManagedJob.id.desc())
        attempts_query = select(*ManagedJobAttempt.__table__.columns).order_by(ManagedJobAttempt.id)
        if ids is not None:
            jobs_query = jobs_query.where(ManagedJob.id.in_(list(ids)))
        if exclude:
            jobs_query = jobs_query.where(ManagedJob.status.not_in(list(exclude)))
        if users is not None:
            jobs_query = jobs_query.where(or_(ManagedJob.user.is_(None), ManagedJob.user.in_(list(users))))
        if limit is not None:
            jobs_query = jobs_query.limit(limit)
        with self._store._read() as session:
            jobs = _dicts(session.execute(jobs_query))
            if ids is not None or limit is not None:  # a few jobs: only theirs (else every attempt, one scan)
                attempts_query = attempts_query.where(ManagedJobAttempt.job_id.in_([j["id"] for j in jobs]))
            return jobs, _dicts(session.execute(attempts_query))

    # --- attempts -----------------------------------------------------------------

    def attempts(self, job_id: int | None = None, *, job_ids: Sequence[int] | None = None) -> list[AttemptRecord]:
        """Attempts of one job, of `job_ids`, or of all, oldest first."""
        query = select(ManagedJobAttempt).order_by(ManagedJobAttempt.id)
        if job_id is not None:
            query = query.where(ManagedJobAttempt.job_id == job_id)
        if job_ids is not None:
            query = query.where(ManagedJobAttempt.job_id.in_(list(job_ids)))
        with self._store._read() as session:
            return [_record(r, AttemptRecord) for r in session.scalars(query)]

    def add_attempt(self, job_id: int, task_index: int, cluster: str, use_spot: bool | None) -> AttemptRecord:
        """The next attempt of the job's task `task_index`, written before its launch."""
        with self._store._write() as session:
            count = session.scalar(select(func.count()).where(ManagedJobAttempt.job_id == job_id, ManagedJobAttempt.task_index == task_index))
            row = ManagedJobAttempt(
                job_id=job_id, task_index=task_index, attempt=int(count or 0) + 1, cluster=cluster, use_spot=use_spot,
                provider=None, region=None, zone=None, instance_type=None, spot=None, hourly_price=None, agent_job_id=None,
                started_at=time.time(), launched_at=None, ended_at=None, outcome=None, failure_reason=None,
            )
            session.add(row)
            session.flush()
            return _record(row, AttemptRecord)

    def update_attempt(self, attempt_id: int, **fields: Any) -> AttemptRecord:
        unknown = sorted(set(fields) - _ATTEMPT_FIELDS)
        if unknown:
            raise ValueError(f"Cannot update attempt field(s) {', '.join(unknown)}.")
        with self._store._write() as session:
            row = session.scalars(select(ManagedJobAttempt).where(ManagedJobAttempt.id == attempt_id).with_for_update()).one()
            for key, value in fields.items():
                setattr(row, key, value)
            session.flush()
            return _record(row, AttemptRecord)


def _job(row: ManagedJob) -> ManagedJobRecord:
    return _record(row, ManagedJobRecord)


def _dicts(result) -> list[dict[str, Any]]:
    """A result's rows as dicts: zipping the column names onto plain rows is several times cheaper than
    `row._mapping` per row (which dominated `jobs queue` at thousands of jobs)."""
    keys = list(result.keys())
    return [dict(zip(keys, row)) for row in result.fetchall()]
