"""Worker pools of managed jobs in the state store (tables of revision 0006; versions of 0007).

A pool row is created together with its controller lease (kind `pool`), as a
managed job is, so a pool always has a controller that keeps its workers. A
worker slot's row names its current cluster (a fresh name each time the pool
replaces the worker, so a job following the old cluster sees it gone) and the
managed job it runs: `take` gives a free READY worker to exactly one job,
with a conditional UPDATE that two servers racing for one worker cannot both win.
`retire` is its counterpart for the pool controller: it takes an idle worker out
of service (RETIRING, which no job can claim) with a conditional UPDATE too, so
a worker is never torn down under a job that claimed it a moment before.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update

from skyhop.state.errors import StateError
from skyhop.state.models import ControllerLease, JobPool, ManagedJob, PoolWorker
from skyhop.state.store import StateStore, _record

#: The controller kind of pools (controller_leases.kind).
KIND = "pool"

# Pool statuses.
POOL_READY = "READY"
SHUTTING_DOWN = "SHUTTING_DOWN"
# Worker statuses: launching (and running setup), usable, lost.
STARTING = "STARTING"
READY = "READY"
#: Its job saw the cluster go: claimed by nobody until the pool controller replaces it.
LOST = "LOST"
#: Idle and being torn down (scaled down, or replaced by a newer version): claimed by nobody, then removed.
RETIRING = "RETIRING"
#: Task keys whose presence makes every `apply` recreate the workers (SkyPilot: data in them may have changed).
_ALWAYS_RECREATE = ("workdir", "file_mounts")


@dataclass(frozen=True, slots=True)
class PoolRecord:
    name: str
    task: dict[str, Any]
    workers: int
    status: str
    created_at: float
    updated_at: float
    #: Grows each time `apply` changed what a worker is made of (None: a row made before revision 0007, version 1).
    version: int | None = 1
    user: str | None = None  # who created it (None: a row made before revision 0009)
    workspace: str | None = None


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    pool: str
    slot: int
    cluster: str
    status: str
    job_id: int | None
    updated_at: float
    #: The pool version this worker was launched with (None: before revision 0007, version 1).
    version: int | None = 1


def version_of(record: PoolRecord | WorkerRecord) -> int:
    return record.version or 1


def _worker_config(task: dict[str, Any]) -> dict[str, Any]:
    """What a worker is made of: the task less its name and `pool:` section (size and scaling need no new workers)."""
    return {k: v for k, v in task.items() if k not in ("name", "pool")}


class JobPools:
    """Reads and writes of pools and their workers (see the module doc)."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    def apply(
        self, name: str, task: dict[str, Any], workers: int, *, bounds: tuple[int, int] | None = None, user: str | None = None,
        workspace: str | None = None,
    ) -> tuple[PoolRecord, bool]:
        """Create the pool (with its lease) or update its task and size; (record, created).

        `bounds` (an autoscaled pool's min and max): an existing pool keeps its current
        target, moved into the bounds, instead of `workers`. The version grows when the
        workers' part of the task changed, or on every update of a task with a workdir
        or file_mounts (as SkyPilot does), so the controller rolls the workers over. `user` and
        `workspace` are the creator's, kept by later updates."""
        now = time.time()
        with self._store._write() as session:
            row = session.scalars(select(JobPool).where(JobPool.name == name).with_for_update()).one_or_none()
            created = row is None
            if row is None:
                row = JobPool(
                    name=name, task=task, workers=workers, status=POOL_READY, created_at=now, updated_at=now, user=user, workspace=workspace
                )
                session.add(row)
                if session.get(ControllerLease, (KIND, name)) is None:
                    session.add(ControllerLease(kind=KIND, object_id=name, owner=None, cancel_requested=False, claimed_at=None))
            elif row.status == SHUTTING_DOWN:
                raise StateError(f"Pool {name!r} is being taken down; apply it again once `skyhop jobs pool status` no longer lists it.")
            else:
                if _worker_config(row.task) != _worker_config(task) or any(task.get(k) for k in _ALWAYS_RECREATE):
                    row.version = (row.version or 1) + 1
                if bounds is not None:
                    workers = max(bounds[0], min(bounds[1], row.workers))
                row.task, row.workers, row.updated_at = task, workers, now
            session.flush()
            return _record(row, PoolRecord), created

    def get(self, name: str) -> PoolRecord | None:
        with self._store._read() as session:
            row = session.get(JobPool, name)
            return None if row is None else _record(row, PoolRecord)

    def all(self) -> list[PoolRecord]:
        with self._store._read() as session:
            return [_record(r, PoolRecord) for r in session.scalars(select(JobPool).order_by(JobPool.name))]

    def mark_down(self, name: str) -> bool:
        """Ask for the pool to be taken down (its controller does it); False if there is no such pool."""
        with self._store._write() as session:
            changed = session.execute(update(JobPool).where(JobPool.name == name).values(status=SHUTTING_DOWN, updated_at=time.time()))
        return bool(getattr(changed, "rowcount", 0))

    def set_target(self, name: str, workers: int) -> None:
        """An autoscaled pool's new size (unless `pool down` was asked meanwhile)."""
        with self._store._write() as session:
            session.execute(
                update(JobPool).where(JobPool.name == name, JobPool.status != SHUTTING_DOWN).values(workers=workers, updated_at=time.time())
            )

    def pending_jobs(self, name: str) -> int:
        """How many of the pool's managed jobs wait for a worker (PENDING): the queue the pool scales on."""
        with self._store._read() as session:
            query = select(func.count()).select_from(ManagedJob).where(ManagedJob.pool == name, ManagedJob.status == "PENDING")
            return int(session.scalar(query) or 0)

    def delete(self, name: str) -> None:
        """The pool and its worker rows (once its clusters are gone)."""
        with self._store._write() as session:
            session.execute(delete(PoolWorker).where(PoolWorker.pool == name))
            session.execute(delete(JobPool).where(JobPool.name == name))

    # --- workers --------------------------------------------------------------------

    def workers(self, pool: str | None = None) -> list[WorkerRecord]:
        """Workers of `pool` (of every pool when None), by pool and slot."""
        query = select(PoolWorker).order_by(PoolWorker.pool, PoolWorker.slot)
        if pool is not None:
            query = query.where(PoolWorker.pool == pool)
        with self._store._read() as session:
            return [_record(r, WorkerRecord) for r in session.scalars(query)]

    def set_worker(self, pool: str, slot: int, cluster: str, status: str, *, version: int | None = None) -> WorkerRecord:
        """Write a slot's cluster and status (and, given, the pool version it is launched with); a new
        cluster name frees the slot of its job (that job lost its worker)."""
        now = time.time()
        with self._store._write() as session:
            row = session.scalars(select(PoolWorker).where(PoolWorker.pool == pool, PoolWorker.slot == slot).with_for_update()).one_or_none()
            if row is None:
                row = PoolWorker(pool=pool, slot=slot, cluster=cluster, status=status, job_id=None, updated_at=now, version=version or 1)
                session.add(row)
            else:
                if row.cluster != cluster:
                    row.job_id = None
                row.cluster, row.status, row.updated_at = cluster, status, now
                if version is not None:
                    row.version = version
            session.flush()
            return _record(row, WorkerRecord)

    def retire(self, pool: str, slot: int, cluster: str) -> bool:
        """Take the slot's worker out of service if it is still `cluster` and runs no job; False otherwise
        (a job claimed it meanwhile, or it was replaced). The caller then tears it down and removes the row."""
        with self._store._write() as session:
            won = session.execute(
                update(PoolWorker)
                .where(PoolWorker.pool == pool, PoolWorker.slot == slot, PoolWorker.cluster == cluster, PoolWorker.job_id.is_(None))
                .values(status=RETIRING, updated_at=time.time())
                .execution_options(synchronize_session=False)
            )
        return bool(getattr(won, "rowcount", 0))

    def remove_worker(self, pool: str, slot: int) -> None:
        with self._store._write() as session:
            session.execute(delete(PoolWorker).where(PoolWorker.pool == pool, PoolWorker.slot == slot))

    def take(self, worker: WorkerRecord, job_id: int) -> WorkerRecord | None:
        """Give `worker` to `job_id` if it is still the same free READY cluster (one conditional UPDATE: of two
        servers racing for it, one wins); the worker now held, or None when someone else got it first."""
        with self._store._write() as session:
            won = session.execute(
                update(PoolWorker)
                .where(
                    PoolWorker.pool == worker.pool, PoolWorker.slot == worker.slot, PoolWorker.cluster == worker.cluster,
                    PoolWorker.status == READY, PoolWorker.job_id.is_(None),
                )
                .values(job_id=job_id, updated_at=time.time())
                .execution_options(synchronize_session=False)
            )
        return self.held_by(worker.pool, job_id) if getattr(won, "rowcount", 0) else None

    def held_by(self, pool: str, job_id: int) -> WorkerRecord | None:
        with self._store._read() as session:
            row = session.scalars(select(PoolWorker).where(PoolWorker.pool == pool, PoolWorker.job_id == job_id)).first()
            return None if row is None else _record(row, WorkerRecord)

    def release(self, pool: str, job_id: int, *, lost: bool = False) -> None:
        """The job no longer uses its worker (idempotent); `lost`: because the worker's cluster went, so no
        other job may claim it before the pool controller replaces it."""
        values: dict[str, Any] = {"job_id": None, "updated_at": time.time()}
        if lost:
            values["status"] = LOST
        with self._store._write() as session:
            session.execute(
                update(PoolWorker)
                .where(PoolWorker.pool == pool, PoolWorker.job_id == job_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
