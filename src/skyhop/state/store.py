"""`StateStore`: every read and write of skyhop's state goes through here.

Each public method is one short transaction on a fresh session, so the store
is safe to share between threads and to use from several processes at once,
and a process killed at any point leaves either all of an operation or none
of it. Writes that read first (status transitions, upserts) lock what they
read (`BEGIN IMMEDIATE` on SQLite, `SELECT ... FOR UPDATE` on PostgreSQL), so
concurrent writers cannot interleave. Methods return frozen records from
`skyhop.state.records`, never ORM objects.
"""

from __future__ import annotations

import contextlib
import copy
import os
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import fields, replace
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, delete, literal, or_, select, true, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from skyhop.state import db
from skyhop.state.cost import DEFAULT_WORKSPACE, cost_lines
from skyhop.state.errors import ClusterExistsError, ClusterNotFoundError, RequestExistsError, RequestNotFoundError, StateError
from skyhop.state.models import Cluster, ClusterEventRow, Job, Request
from skyhop.state.records import (
    BILLING_EVENTS,
    CLUSTER_STATUSES,
    INIT,
    JOB_STATUSES,
    LAUNCH,
    PENDING,
    REQUEST_ACTIVE,
    REQUEST_FINISHED,
    RUNNING,
    START,
    STOP,
    STOPPED,
    TERMINATE,
    UP,
    ClusterEvent,
    ClusterRecord,
    CostLine,
    JobRecord,
    RequestOwnership,
    RequestRecord,
)

R = TypeVar("R")

#: Fields `update_cluster` may change. Not `name` (the key) nor `status`
#: (use `set_cluster_status`, which keeps the cost history in step).
UPDATABLE_CLUSTER_FIELDS = frozenset(
    {
        "provider",
        "region",
        "zone",
        "num_nodes",
        "resources",
        "handle",
        "hourly_price",
        "autostop_minutes",
        "autostop_down",
        "setup_hash",
        "user",
        "launched_at",
    }
)

_IN_CHUNK = 500  # ids per IN (...) clause, well under every backend's limit


class StateStore:
    """The state database: clusters, their history (cost), jobs and API requests.

    `url` is an SQLAlchemy URL; default `SKYHOP_DB_URL`, else the SQLite file
    `SKYHOP_HOME/state.db`. Opening migrates the schema to the latest revision
    (a cheap check when it is already there). Close with `close()` or `with`.
    """

    def __init__(self, url: str | None = None) -> None:
        self.url = url or db.default_url()
        self._engine = db.create_engine(self.url)
        try:
            db.ensure_schema(self._engine)
        except DBAPIError as error:
            self._engine.dispose()
            where = self._engine.url.render_as_string(hide_password=True)
            raise StateError(f"Cannot open the state database {where}: {error.orig}") from error
        except BaseException:
            self._engine.dispose()
            raise
        self._reading = sessionmaker(self._engine, expire_on_commit=False)
        self._writing = sessionmaker(db.writer(self._engine), expire_on_commit=False)

    def close(self) -> None:
        """Close the pooled connections (the store can still be used: it reconnects)."""
        self._engine.dispose()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _read(self) -> Iterator[Session]:
        with self._reading() as session:
            yield session

    @contextlib.contextmanager
    def _write(self) -> Iterator[Session]:
        """One write transaction: committed on success, rolled back on any error."""
        with self._writing.begin() as session:
            yield session

    # --- clusters -------------------------------------------------------------

    def add_cluster(self, record: ClusterRecord) -> ClusterRecord:
        """Record a cluster that is being launched (status INIT, no cost yet).

        The row exists before any machine is created, so a crash mid-launch
        leaves a record to clean up rather than an unknown, billed machine.
        `launched_at`/`status_updated_at` default to now.
        """
        if record.status != INIT:
            raise ValueError(f"A new cluster starts as {INIT}, not {record.status!r}; use set_cluster_status() after.")
        now = time.time()
        launched_at = record.launched_at if record.launched_at is not None else now
        row = Cluster(
            name=record.name,
            provider=record.provider,
            region=record.region,
            zone=record.zone,
            status=INIT,
            num_nodes=record.num_nodes,
            resources=dict(record.resources),
            handle=dict(record.handle),
            hourly_price=record.hourly_price,
            autostop_minutes=record.autostop_minutes,
            autostop_down=record.autostop_down,
            setup_hash=record.setup_hash,
            user=record.user,
            workspace=record.workspace,
            launched_at=launched_at,
            status_updated_at=record.status_updated_at if record.status_updated_at is not None else launched_at,
        )
        try:
            with self._write() as session:
                existing = session.get(Cluster, record.name)
                if existing is not None:
                    raise _cluster_exists(record.name, existing.status)
                session.add(row)
                session.flush()
                return _cluster_record(row)
        except IntegrityError as error:  # PostgreSQL: a concurrent add of the same name
            raise _cluster_exists(record.name, None) from error

    def get_cluster(self, name: str) -> ClusterRecord | None:
        with self._read() as session:
            row = session.get(Cluster, name)
            return None if row is None else _cluster_record(row)

    def list_clusters(self, *, owners: Sequence[str] | None = None) -> list[ClusterRecord]:
        """All live clusters (of `owners` only, when given), by name. Read as plain rows, not ORM objects:
        `status` is the most frequent call there is, and the identity map plus a deep copy of each row's JSON
        cost more than the query itself (each plain row's JSON is decoded afresh, so the records share nothing)."""
        names = [f.name for f in fields(ClusterRecord)]
        query = select(*(Cluster.__table__.c[name] for name in names)).order_by(Cluster.name)
        if owners is not None:
            query = query.where(Cluster.user.in_(list(owners)))
        with self._read() as session:
            return [ClusterRecord(**dict(zip(names, row), autostop_down=bool(row.autostop_down))) for row in session.execute(query)]

    def update_cluster(self, name: str, **fields: Any) -> ClusterRecord:
        """Change descriptive fields (handle, resources, autostop, ...), not the status.

        Raises ValueError for a field that is unknown or not updatable here, and
        ClusterNotFoundError for an unknown cluster.
        """
        unknown = sorted(set(fields) - UPDATABLE_CLUSTER_FIELDS)
        if unknown:
            hint = " (use set_cluster_status for the status)" if "status" in unknown else ""
            raise ValueError(f"Cannot update cluster field(s) {', '.join(unknown)}{hint}.")
        with self._write() as session:
            row = _locked_cluster(session, name)
            for key, value in fields.items():
                setattr(row, key, dict(value) if key in ("resources", "handle") else value)
            session.flush()
            return _cluster_record(row)

    def set_cluster_status(
        self, name: str, status: str, *, at: float | None = None, hourly_price: float | None = None, reason: str | None = None
    ) -> ClusterRecord:
        """Move a cluster to `status` and, in the same transaction, record the billable event.

        The event follows the billing state of the history, not just the two
        statuses: to UP after nothing or a TERMINATE is LAUNCH, to UP after a
        STOP is START, to STOPPED while billed is STOP; anything else (e.g. UP
        -> INIT while a node is being repaired, still billed) adds nothing.
        Setting the current status again changes nothing but `hourly_price`
        (if given; the price applies from the next billed interval on) and the
        reason, which always describes the status just set (None clears it).
        """
        if status not in CLUSTER_STATUSES:
            raise ValueError(f"Unknown cluster status {status!r}; expected one of {', '.join(CLUSTER_STATUSES)}.")
        at = time.time() if at is None else at
        with self._write() as session:
            row = _locked_cluster(session, name)
            if hourly_price is not None:
                row.hourly_price = hourly_price
            row.status_reason = reason
            if row.status != status:
                kind = _event_for(_last_event(session, name), status)
                row.status = status
                row.status_updated_at = at
                if kind is not None:
                    session.add(_event_row(row, kind, at))
            session.flush()
            return _cluster_record(row)

    def remove_cluster(self, name: str, *, at: float | None = None) -> bool:
        """Delete a terminated cluster and its jobs; close its cost history.

        Appends TERMINATE when the cluster's current lifetime was billed at
        some point (a LAUNCH with no TERMINATE after it). Returns False, and
        changes nothing, when no such cluster exists: `down` may be retried.
        """
        at = time.time() if at is None else at
        with self._write() as session:
            row = session.scalars(select(Cluster).where(Cluster.name == name).with_for_update()).one_or_none()
            if row is None:
                return False
            last = _last_event(session, name)
            if last is not None and last != TERMINATE:
                session.add(_event_row(row, TERMINATE, at))
            session.execute(delete(Job).where(Job.cluster == name))
            session.delete(row)
            return True

    def list_events(
        self, cluster: str | None = None, *, users: list[str] | None = None, workspace: str | None = None, before: float | None = None,
    ) -> list[ClusterEvent]:
        """Cluster history, oldest first (all clusters, or one name); `users`/`workspace` keep one owner's events
        (workspace "default" includes rows without one), `before` the events earlier than that time."""
        query = _events_where(select(ClusterEventRow), cluster, users, workspace, before)
        with self._read() as session:
            return [_event_record(row) for row in session.scalars(query)]

    def billing_events(self, *, users: list[str] | None = None, workspace: str | None = None, before: float | None = None) -> list[ClusterEvent]:
        """`list_events` without what spending does not need (`resources` is empty), read as plain rows: a
        budget's month is thousands of events, and ORM objects with a deep copy of each one's JSON cost ten
        times the query (benchmarks/README.md, "Budgets")."""
        names = [f.name for f in fields(ClusterEvent) if f.name != "resources"]
        query = _events_where(select(*(ClusterEventRow.__table__.c[name] for name in names)), None, users, workspace, before)
        with self._read() as session:
            return [ClusterEvent(**dict(zip(names, row)), resources={}) for row in session.execute(query)]

    # --- jobs -----------------------------------------------------------------

    def upsert_jobs(self, cluster: str, jobs: Iterable[JobRecord]) -> int:
        """Insert or update jobs of `cluster` as reported by its agent; returns how many.

        Jobs not mentioned are left alone. A job_id given twice: the last wins.
        `JobRecord.cluster` is ignored (the argument says which cluster).
        """
        by_id = {job.job_id: job for job in jobs}
        for job in by_id.values():
            if job.status not in JOB_STATUSES:
                raise ValueError(f"Unknown job status {job.status!r} for job {job.job_id} on {cluster}.")
        with self._write() as session:
            _locked_cluster(session, cluster)
            ids = sorted(by_id)
            existing: dict[int, Job] = {}
            for start in range(0, len(ids), _IN_CHUNK):
                chunk = ids[start : start + _IN_CHUNK]
                query = select(Job).where(Job.cluster == cluster, Job.job_id.in_(chunk))
                existing.update((row.job_id, row) for row in session.scalars(query))
            for job_id, job in by_id.items():
                row = existing.get(job_id)
                if row is None:
                    row = Job(cluster=cluster, job_id=job_id)
                    session.add(row)
                row.name = job.name
                row.user = job.user
                row.status = job.status
                row.submitted_at = job.submitted_at
                row.started_at = job.started_at
                row.ended_at = job.ended_at
                row.exit_code = job.exit_code
                row.failure_reason = job.failure_reason
                row.num_nodes = job.num_nodes
                row.resources = dict(job.resources)
        return len(by_id)

    def list_jobs(self, cluster: str, *, limit: int | None = None) -> list[JobRecord]:
        """Jobs of `cluster`, newest (highest job_id) first."""
        query = select(Job).where(Job.cluster == cluster).order_by(Job.job_id.desc()).limit(limit)
        with self._read() as session:
            return [_job_record(row) for row in session.scalars(query)]

    def get_job(self, cluster: str, job_id: int) -> JobRecord | None:
        with self._read() as session:
            row = session.get(Job, (cluster, job_id))
            return None if row is None else _job_record(row)

    # --- requests ---------------------------------------------------------------

    def create_request(
        self,
        name: str,
        body: dict[str, Any],
        *,
        cluster: str | None = None,
        user: str | None = None,
        workspace: str | None = None,
        log_path: str,
        request_id: str | None = None,
        server_pid: int | None = None,
        server_owner: str | None = None,
    ) -> RequestRecord:
        """Record a new PENDING request; `request_id` defaults to a fresh uuid4 hex.

        `server_owner` (`host:pid:start`, as controller owners are named) and
        `server_pid` (default: this process) own the request until a worker
        starts it, so other server processes (`orphaned_requests`) can tell live
        from dead owners. An id already taken raises `RequestExistsError`
        (a client's retried submission: the caller compares the two).
        """
        row = Request(
            request_id=request_id or uuid.uuid4().hex,
            name=name,
            status=PENDING,
            cluster=cluster,
            user=user,
            workspace=workspace,
            body=dict(body),
            result=None,
            error=None,
            created_at=time.time(),
            started_at=None,
            finished_at=None,
            server_pid=os.getpid() if server_pid is None else server_pid,
            server_owner=server_owner,
            log_path=str(log_path),
        )
        try:
            with self._write() as session:
                if request_id is not None and session.get(Request, request_id) is not None:
                    raise RequestExistsError(f"A request with id {request_id!r} exists already.")
                session.add(row)
                session.flush()
                return _request_record(row)
        except IntegrityError as error:  # PostgreSQL: the same id created concurrently
            raise RequestExistsError(f"A request with id {request_id!r} exists already.") from error

    def start_request(self, request_id: str, server_pid: int, server_owner: str | None = None) -> RequestRecord:
        """PENDING -> RUNNING, owned by `server_pid` (and `server_owner`, when given).

        A request that is no longer PENDING (e.g. cancelled while queued) is
        returned unchanged: the caller must check `status == RUNNING` before
        doing the work.
        """
        with self._write() as session:
            row = _locked_request(session, request_id)
            if row.status == PENDING:
                row.status = RUNNING
                row.started_at = time.time()
                row.server_pid = server_pid
                if server_owner is not None:
                    row.server_owner = server_owner
                session.flush()
            return _request_record(row)

    def finish_request(
        self, request_id: str, status: str, *, result: Any = None, error: str | None = None, error_code: str | None = None
    ) -> RequestRecord:
        """Record the outcome (SUCCEEDED, FAILED or CANCELLED); `error_code` is the API's code for `error`.

        The first outcome wins: finishing an already finished request (a worker
        completing after a cancel) returns it unchanged.
        """
        if status not in REQUEST_FINISHED:
            raise ValueError(f"A request finishes as one of {', '.join(REQUEST_FINISHED)}, not {status!r}.")
        with self._write() as session:
            row = _locked_request(session, request_id)
            if row.status not in REQUEST_FINISHED:
                row.status = status
                row.result = result
                row.error = error
                row.error_code = error_code
                row.finished_at = time.time()
                session.flush()
            return _request_record(row)

    def get_request(self, request_id: str) -> RequestRecord | None:
        with self._read() as session:
            row = session.get(Request, request_id)
            return None if row is None else _request_record(row)

    def list_requests(self, limit: int = 50, active_only: bool = False, *, owners: Sequence[str] | None = None) -> list[RequestRecord]:
        """The latest requests (of `owners` only, when given), newest first; only PENDING/RUNNING ones if `active_only`."""
        query = select(Request).order_by(Request.created_at.desc(), Request.request_id.desc()).limit(limit)
        if owners is not None:
            query = query.where(Request.user.in_(list(owners)))
        if active_only:
            query = query.where(Request.status.in_(REQUEST_ACTIVE))
        with self._read() as session:
            return [_request_record(row) for row in session.scalars(query)]

    def delete_finished_requests(self, finished_before: float) -> list[RequestRecord]:
        """Delete requests that ended before `finished_before`; returns them (their logs are the caller's)."""
        with self._write() as session:
            query = (
                select(Request)
                .where(Request.status.in_(REQUEST_FINISHED), Request.finished_at < finished_before)
                .with_for_update()
            )
            rows = list(session.scalars(query))
            records = [_request_record(row) for row in rows]
            ids = [r.request_id for r in records]
            for start in range(0, len(ids), _IN_CHUNK):
                session.execute(
                    delete(Request)
                    .where(Request.request_id.in_(ids[start : start + _IN_CHUNK]))
                    .execution_options(synchronize_session=False)
                )
            return records

    def orphaned_requests(self, owner: str) -> list[RequestOwnership]:
        """Who holds each PENDING/RUNNING request not owned by `owner` (`host:pid:start`), oldest first.

        Read at API server start-up and by each server's periodic sweep (so
        without bodies): whoever owns them is another server process, alive
        (leave them alone) or dead or gone (resume or fail them); the caller
        tells which and claims each with `adopt_request`.
        """
        mine = Request.server_owner
        query = (
            select(Request.request_id, Request.user, Request.server_owner, Request.server_pid)
            .where(Request.status.in_(REQUEST_ACTIVE), (mine != owner) | mine.is_(None))
            .order_by(Request.created_at, Request.request_id)
        )
        with self._read() as session:
            return [RequestOwnership(*row) for row in session.execute(query)]

    def adopt_request(
        self, seen: RequestRecord | RequestOwnership, *, owner: str, pid: int, owner_dead: bool = False,
    ) -> RequestRecord | None:
        """Make `owner` (process `pid`) the owner of a still-active request as it was `seen`; None if it changed meanwhile.

        One conditional UPDATE: the request must still be active and owned as
        seen, and its owner gone (none: released or never set), expired (its
        `controller_owners` row lapsed or was removed) or `owner_dead` (the
        caller proved the process dead on this host). Of two server processes
        sweeping at once, one adopts and the other leaves it alone. The status
        is kept (a PENDING request is started by its new owner as usual).
        """
        from skyhop.state.models import ControllerOwner

        now = time.time()
        live = select(ControllerOwner.owner).where(ControllerOwner.expires_at >= now)
        gone = Request.server_owner.is_(None) | Request.server_owner.not_in(live)
        with self._write() as session:
            changed = session.execute(
                update(Request)
                .where(
                    Request.request_id == seen.request_id,
                    Request.status.in_(REQUEST_ACTIVE),
                    Request.server_owner.is_not_distinct_from(seen.server_owner),
                    Request.server_pid.is_not_distinct_from(seen.server_pid),
                    true() if owner_dead else gone,
                )
                .values(server_owner=owner, server_pid=pid)
                .execution_options(synchronize_session=False)
            )
            if not cast(CursorResult, changed).rowcount:
                return None
            row = session.get(Request, seen.request_id)
            return None if row is None else _request_record(row)

    def release_requests(self, owner: str) -> list[str]:
        """Give up `owner`'s active requests (a draining server): no owner, so another process adopts them at its next sweep."""
        with self._write() as session:
            ids = list(session.scalars(
                select(Request.request_id).where(Request.server_owner == owner, Request.status.in_(REQUEST_ACTIVE)).with_for_update()
            ))
            if ids:
                session.execute(
                    update(Request)
                    .where(Request.request_id.in_(ids), Request.server_owner == owner)
                    .values(server_owner=None, server_pid=None)
                    .execution_options(synchronize_session=False)
                )
            return ids

    def ping(self) -> None:
        """One round trip to the database (`SELECT 1`): raises when it does not answer."""
        with self._read() as session:
            session.execute(select(literal(1)))

    def schema_revision(self) -> str | None:
        """The schema revision the database records now (None: none)."""
        return db.current_revision(self._engine)

    # --- cost -----------------------------------------------------------------

    def cost_report(self, now: float | None = None) -> list[CostLine]:
        """Cost of every cluster lifetime ever launched, from the history alone.

        One line per lifetime (LAUNCH .. TERMINATE) of each name, including
        terminated clusters and names reused after termination; see
        `skyhop.state.cost` for the rules. Running clusters are costed up to `now`.
        """
        events = self.list_events()
        return cost_lines(events, time.time() if now is None else now)


# --- helpers ------------------------------------------------------------------


def _cluster_exists(name: str, status: str | None) -> ClusterExistsError:
    state = f" (status {status})" if status else ""
    return ClusterExistsError(
        f"A cluster named {name!r} already exists{state}; pick another name or run `skyhop down {name}` first."
    )


def _locked_cluster(session: Session, name: str) -> Cluster:
    row = session.scalars(select(Cluster).where(Cluster.name == name).with_for_update()).one_or_none()
    if row is None:
        raise ClusterNotFoundError(f"No cluster named {name!r}; `skyhop status` lists the clusters.")
    return row


def _locked_request(session: Session, request_id: str) -> Request:
    row = session.scalars(select(Request).where(Request.request_id == request_id).with_for_update()).one_or_none()
    if row is None:
        raise RequestNotFoundError(f"No request with id {request_id!r}.")
    return row


def _last_event(session: Session, cluster: str) -> str | None:
    query = (
        select(ClusterEventRow.event)
        .where(ClusterEventRow.cluster == cluster)
        .order_by(ClusterEventRow.id.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def _event_for(last_event: str | None, new_status: str) -> str | None:
    """The history event a move to `new_status` implies, given the last event."""
    if new_status == UP:
        if last_event is None or last_event == TERMINATE:
            return LAUNCH
        if last_event == STOP:
            return START
    elif new_status == STOPPED and last_event in BILLING_EVENTS:
        return STOP
    return None


def _event_row(cluster: Cluster, kind: str, at: float) -> ClusterEventRow:
    return ClusterEventRow(
        cluster=cluster.name,
        event=kind,
        at=at,
        hourly_price=cluster.hourly_price,
        provider=cluster.provider,
        region=cluster.region,
        num_nodes=cluster.num_nodes,
        resources=dict(cluster.resources),
        user=cluster.user,
        workspace=cluster.workspace,
    )


def _record(row: Any, record_type: type[R]) -> R:
    """The frozen record of an ORM row: same field names; JSON values copied, so a
    record never shares (or writes back through) the row's mutable state."""
    values = {}
    for spec in fields(record_type):  # type: ignore[arg-type]
        value = getattr(row, spec.name)
        values[spec.name] = copy.deepcopy(value) if isinstance(value, (dict, list)) else value
    return record_type(**values)


def _cluster_record(row: Cluster) -> ClusterRecord:
    return replace(_record(row, ClusterRecord), autostop_down=bool(row.autostop_down))


def _events_where(query: Any, cluster: str | None, users: list[str] | None, workspace: str | None, before: float | None) -> Any:
    """The filters of `list_events`/`billing_events`, oldest first."""
    query = query.order_by(ClusterEventRow.id)
    if cluster is not None:
        query = query.where(ClusterEventRow.cluster == cluster)
    if users is not None:
        query = query.where(ClusterEventRow.user.in_(users))
    if workspace is not None:
        column = ClusterEventRow.workspace
        query = query.where(or_(column == workspace, column.is_(None)) if workspace == DEFAULT_WORKSPACE else column == workspace)
    if before is not None:
        query = query.where(ClusterEventRow.at < before)
    return query


def _event_record(row: ClusterEventRow) -> ClusterEvent:
    return _record(row, ClusterEvent)


def _job_record(row: Job) -> JobRecord:
    return _record(row, JobRecord)


def _request_record(row: Request) -> RequestRecord:
    return _record(row, RequestRecord)


__all__: Sequence[str] = ("StateStore", "UPDATABLE_CLUSTER_FIELDS")
