"""The SQLAlchemy tables of the state database.

Kept portable between SQLite (default) and PostgreSQL (team servers): JSON
columns use `sqlalchemy.JSON`, times are unix seconds in DOUBLE columns (no
timezone handling, no backend-specific date functions), and there are no server
defaults: every value is written by Python, so both backends store the same.

The schema is created and changed only by the Alembic migrations in
`skyhop.state.migrations`; a test checks that they produce exactly these
tables. Change both together (see that package's docstring).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Double, ForeignKey, Index, Integer, LargeBinary, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: Deterministic constraint and index names, so later migrations can refer to
#: them by name on every backend (SQLite batch migrations need names).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

NAME = String(255)
STATUS = String(32)
TIME: Double[float] = Double()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, float: Double(), str: String(255)}


class Cluster(Base):
    """A live cluster; the row is deleted when the cluster is terminated."""

    __tablename__ = "clusters"
    __table_args__ = (Index("ix_clusters_user", "user"),)

    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    provider: Mapped[str] = mapped_column(String(64))
    region: Mapped[str] = mapped_column(String(128))
    zone: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(STATUS)
    status_reason: Mapped[str | None] = mapped_column(Text)
    num_nodes: Mapped[int] = mapped_column(Integer)
    resources: Mapped[dict[str, Any]] = mapped_column(JSON)
    handle: Mapped[dict[str, Any]] = mapped_column(JSON)
    hourly_price: Mapped[float] = mapped_column(Double)
    autostop_minutes: Mapped[float | None] = mapped_column(Double)
    autostop_down: Mapped[bool]
    setup_hash: Mapped[str | None] = mapped_column(String(128))
    user: Mapped[str | None] = mapped_column(NAME)
    launched_at: Mapped[float] = mapped_column(TIME)
    status_updated_at: Mapped[float] = mapped_column(TIME)
    #: The owner's workspace (revision 0009; NULL in rows made before it means "default").
    workspace: Mapped[str | None] = mapped_column(NAME)


class ClusterEventRow(Base):
    """Append-only history of billable transitions; outlives the cluster row.

    `cluster` is deliberately not a foreign key: TERMINATE is written as the
    cluster row is deleted, and the history must stay for cost reports.
    """

    __tablename__ = "cluster_events"
    __table_args__ = (
        Index("ix_cluster_events_cluster_id", "cluster", "id"),
        Index("ix_cluster_events_user_at", "user", "at"),
        Index("ix_cluster_events_workspace_at", "workspace", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cluster: Mapped[str] = mapped_column(NAME)
    event: Mapped[str] = mapped_column(STATUS)
    at: Mapped[float] = mapped_column(TIME)
    hourly_price: Mapped[float] = mapped_column(Double)
    provider: Mapped[str] = mapped_column(String(64))
    region: Mapped[str] = mapped_column(String(128))
    num_nodes: Mapped[int] = mapped_column(Integer)
    resources: Mapped[dict[str, Any]] = mapped_column(JSON)
    user: Mapped[str | None] = mapped_column(NAME)
    workspace: Mapped[str | None] = mapped_column(NAME)


class Job(Base):
    """The broker's mirror of one job in a cluster's node agent queue."""

    __tablename__ = "jobs"

    cluster: Mapped[str] = mapped_column(NAME, ForeignKey("clusters.name", ondelete="CASCADE"), primary_key=True)
    job_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str | None] = mapped_column(NAME)
    user: Mapped[str | None] = mapped_column(NAME)
    status: Mapped[str] = mapped_column(STATUS)
    submitted_at: Mapped[float] = mapped_column(TIME)
    started_at: Mapped[float | None] = mapped_column(TIME)
    ended_at: Mapped[float | None] = mapped_column(TIME)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    num_nodes: Mapped[int] = mapped_column(Integer)
    resources: Mapped[dict[str, Any]] = mapped_column(JSON)


class Request(Base):
    """One API server request and its outcome."""

    __tablename__ = "requests"
    __table_args__ = (
        Index("ix_requests_status", "status"),
        Index("ix_requests_created_at", "created_at"),
        Index("ix_requests_user_created_at", "user", "created_at"),
    )

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(STATUS)
    cluster: Mapped[str | None] = mapped_column(NAME)
    user: Mapped[str | None] = mapped_column(NAME)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    # none_as_null: a missing result is SQL NULL, not the JSON text 'null'.
    result: Mapped[Any] = mapped_column(JSON(none_as_null=True), nullable=True)
    error: Mapped[str | None] = mapped_column(Text)
    #: The API error code of `error` (skyhop.server.error_codes), so clients re-raise its type.
    error_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[float] = mapped_column(TIME)
    started_at: Mapped[float | None] = mapped_column(TIME)
    finished_at: Mapped[float | None] = mapped_column(TIME)
    server_pid: Mapped[int | None] = mapped_column(Integer)
    log_path: Mapped[str] = mapped_column(Text)
    workspace: Mapped[str | None] = mapped_column(NAME)
    #: The server process running it, `host:pid:start` as controller owners are named (revision 0009).
    server_owner: Mapped[str | None] = mapped_column(NAME)


class HostLease(Base):
    """Which cluster holds a host of an existing-machines pool (one row per held host).

    `host` is the provider's key for the machine (e.g. user@address:port). A
    free host has no row: claiming one is an INSERT, so two claims of the
    same host conflict on the primary key on every backend.
    """

    __tablename__ = "host_leases"
    __table_args__ = (Index("ix_host_leases_cluster", "cluster"),)

    host: Mapped[str] = mapped_column(String(512), primary_key=True)
    cluster: Mapped[str] = mapped_column(NAME)
    preempted: Mapped[bool]
    leased_at: Mapped[float] = mapped_column(TIME)


class LeaseHolder(Base):
    """What a provider remembers about a cluster holding leased hosts (opaque JSON to the store).

    Written before the hosts are touched, so a launch cut short by a crash
    can still be found and undone; deleted when the cluster's hosts are released.
    """

    __tablename__ = "lease_holders"

    cluster: Mapped[str] = mapped_column(NAME, primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class HostPool(Base):
    """A named pool of existing machines managed through the API (`skyhop ssh add|rm`).

    `spec` is the pool as its provider validates it (the same shape as a pool
    in config.yaml); `provider` says whose pool it is.
    """

    __tablename__ = "host_pools"

    provider: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[float] = mapped_column(TIME)


# --- controllers and managed jobs (revision 0005) ----------------------------------


class ControllerOwner(Base):
    """A controller host (one API server process) and its heartbeat.

    `owner` is `host:pid:start` (start = the process's start time as the kernel
    counts it), so a process on the same host can tell a dead owner, or a pid
    that was reused, at once. Every lease of an owner whose `expires_at` passed
    may be claimed by another: renewing this one row renews all its leases.
    """

    __tablename__ = "controller_owners"

    owner: Mapped[str] = mapped_column(NAME, primary_key=True)
    host: Mapped[str] = mapped_column(NAME)
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[float] = mapped_column(TIME)
    heartbeat_at: Mapped[float] = mapped_column(TIME)
    expires_at: Mapped[float] = mapped_column(TIME)


class ControllerLease(Base):
    """Which controller host drives an object (a managed job, later a service); NULL owner: nobody yet.

    The row exists from the object's creation to its end. `cancel_requested`
    is set by whichever server process is asked to cancel; the owner acts on it.
    """

    __tablename__ = "controller_leases"
    __table_args__ = (Index("ix_controller_leases_owner", "owner"),)

    kind: Mapped[str] = mapped_column(String(64), primary_key=True)
    object_id: Mapped[str] = mapped_column(NAME, primary_key=True)
    owner: Mapped[str | None] = mapped_column(NAME, nullable=True)
    cancel_requested: Mapped[bool]
    claimed_at: Mapped[float | None] = mapped_column(TIME, nullable=True)


class ManagedJob(Base):
    """A managed job: a task (or a pipeline of tasks) the controller runs to the end across preemptions.

    `tasks` holds the task mappings with secret values redacted (as stored
    requests do); `withheld` names what was redacted, so a server that did not
    receive the values can say why it cannot relaunch.
    """

    __tablename__ = "managed_jobs"
    __table_args__ = (Index("ix_managed_jobs_status", "status"), Index("ix_managed_jobs_user", "user"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str | None] = mapped_column(NAME)
    user: Mapped[str | None] = mapped_column(NAME)
    status: Mapped[str] = mapped_column(STATUS)
    tasks: Mapped[Any] = mapped_column(JSON)
    #: Each task's resources as text (`1x 2 CPUs, spot`), for `jobs queue` without parsing the tasks.
    resources: Mapped[Any] = mapped_column(JSON)
    envs: Mapped[dict[str, Any]] = mapped_column(JSON)
    withheld: Mapped[Any] = mapped_column(JSON)
    current_task: Mapped[int] = mapped_column(Integer)
    recovery_count: Mapped[int] = mapped_column(Integer)
    restarts_on_errors: Mapped[int] = mapped_column(Integer)
    cluster: Mapped[str | None] = mapped_column(NAME)
    agent_job_id: Mapped[int | None] = mapped_column(Integer)
    submitted_at: Mapped[float] = mapped_column(TIME)
    started_at: Mapped[float | None] = mapped_column(TIME)
    ended_at: Mapped[float | None] = mapped_column(TIME)
    updated_at: Mapped[float] = mapped_column(TIME)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    #: The worker pool (`jobs launch --pool`) the job runs on; None: the job launches its own cluster.
    pool: Mapped[str | None] = mapped_column(NAME)
    workspace: Mapped[str | None] = mapped_column(NAME)


class ManagedJobAttempt(Base):
    """One attempt of one task of a managed job: where it ran, at what price, how it ended."""

    __tablename__ = "managed_job_attempts"
    __table_args__ = (Index("ix_managed_job_attempts_job_id_id", "job_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(Integer, ForeignKey("managed_jobs.id", ondelete="CASCADE"))
    task_index: Mapped[int] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer)
    cluster: Mapped[str] = mapped_column(NAME)
    use_spot: Mapped[bool | None]
    provider: Mapped[str | None] = mapped_column(String(64))
    region: Mapped[str | None] = mapped_column(String(128))
    zone: Mapped[str | None] = mapped_column(String(128))
    instance_type: Mapped[str | None] = mapped_column(NAME)
    spot: Mapped[bool | None]
    hourly_price: Mapped[float | None] = mapped_column(Double)
    agent_job_id: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[float] = mapped_column(TIME)
    launched_at: Mapped[float | None] = mapped_column(TIME)
    ended_at: Mapped[float | None] = mapped_column(TIME)
    outcome: Mapped[str | None] = mapped_column(STATUS)
    failure_reason: Mapped[str | None] = mapped_column(Text)


class JobPool(Base):
    """A pool of warm worker clusters for managed jobs (`skyhop jobs pool apply`).

    `task` is the pool's task mapping (resources, setup, file_mounts; secrets
    redacted); `workers` how many workers the pool keeps (an autoscaled pool's
    current target); `status` READY, or SHUTTING_DOWN once `pool down` was asked;
    `version` grows each time `apply` changed what a worker is made of (revision 0007; NULL in rows made before it means 1).
    """

    __tablename__ = "job_pools"

    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    task: Mapped[Any] = mapped_column(JSON)
    workers: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(STATUS)
    created_at: Mapped[float] = mapped_column(TIME)
    updated_at: Mapped[float] = mapped_column(TIME)
    version: Mapped[int | None] = mapped_column(Integer, default=1)
    user: Mapped[str | None] = mapped_column(NAME)
    workspace: Mapped[str | None] = mapped_column(NAME)


class PoolWorker(Base):
    """One worker slot of a pool: its current cluster (a new name each time it is replaced) and the job it runs."""

    __tablename__ = "pool_workers"

    pool: Mapped[str] = mapped_column(NAME, ForeignKey("job_pools.name", ondelete="CASCADE"), primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster: Mapped[str] = mapped_column(NAME)
    status: Mapped[str] = mapped_column(STATUS)
    job_id: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[float] = mapped_column(TIME)
    #: The pool version whose task this worker was launched with (revision 0007; NULL in rows made before it means 1).
    version: Mapped[int | None] = mapped_column(Integer, default=1)


class Service(Base):
    """A served task (`skyhop serve up`): replicas behind one load-balanced endpoint.

    `task` is the task mapping with its `service:` section (secrets redacted); `version`
    grows with each `serve update` (whose `update_mode` says how replicas move over);
    `target` is the autoscaler's current target, kept so a restarted controller does not
    start over; `lb_pid`/`lb_port` name the load balancer process, which outlives a server
    restart so the endpoint keeps answering; `next_replica_id` keeps replica ids unique
    for the service's whole life, as SkyServe's are.
    """

    __tablename__ = "services"

    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    user: Mapped[str | None] = mapped_column(NAME)
    task: Mapped[Any] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer)
    update_mode: Mapped[str] = mapped_column(STATUS)
    status: Mapped[str] = mapped_column(STATUS)
    status_reason: Mapped[str | None] = mapped_column(Text)
    target: Mapped[int | None] = mapped_column(Integer)
    lb_pid: Mapped[int | None] = mapped_column(Integer)
    lb_port: Mapped[int | None] = mapped_column(Integer)
    endpoint: Mapped[str | None] = mapped_column(NAME)
    next_replica_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[float] = mapped_column(TIME)
    updated_at: Mapped[float] = mapped_column(TIME)
    workspace: Mapped[str | None] = mapped_column(NAME)


class ServiceReplica(Base):
    """One replica of a service: its own cluster, the version it runs, where it answers."""

    __tablename__ = "service_replicas"

    service: Mapped[str] = mapped_column(NAME, ForeignKey("services.name", ondelete="CASCADE"), primary_key=True)
    replica_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster: Mapped[str] = mapped_column(NAME)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(STATUS)
    status_reason: Mapped[str | None] = mapped_column(Text)
    use_spot: Mapped[bool]
    #: Where it landed (from the cluster once up): the spot placer's zone, the accelerator the LB weighs.
    zone: Mapped[str | None] = mapped_column(String(128))
    accelerator: Mapped[str | None] = mapped_column(String(128))
    port: Mapped[int | None] = mapped_column(Integer)
    url: Mapped[str | None] = mapped_column(NAME)
    launched_at: Mapped[float] = mapped_column(TIME)
    ready_at: Mapped[float | None] = mapped_column(TIME)
    updated_at: Mapped[float] = mapped_column(TIME)


# --- team mode (revision 0009) ------------------------------------------------------


class User(Base):
    """Someone (kind `human`) or something (kind `service`: a job's API access) that holds tokens.

    `id` is the stable handle shown everywhere (`alice`); `role` is admin, user or viewer.
    A disabled user's tokens are refused; the row stays, so what they owned keeps its owner.
    """

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(NAME, primary_key=True)
    display_name: Mapped[str | None] = mapped_column(NAME)
    role: Mapped[str] = mapped_column(STATUS)
    kind: Mapped[str] = mapped_column(STATUS)
    created_at: Mapped[float] = mapped_column(TIME)
    created_by: Mapped[str | None] = mapped_column(NAME)
    disabled_at: Mapped[float | None] = mapped_column(TIME)


class Token(Base):
    """An API token, stored as a keyed hash only (the secret is shown once, at creation).

    `id` is the public part inside the token, so `tokens revoke ID` needs no
    secret; `kind` is personal, service (a job's) or dashboard (a browser
    session); `scope` narrows a service token (whom it acts for, which job).
    """

    __tablename__ = "tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(NAME, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(STATUS)
    name: Mapped[str | None] = mapped_column(NAME)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    scope: Mapped[Any] = mapped_column(JSON(none_as_null=True), nullable=True)
    created_at: Mapped[float] = mapped_column(TIME)
    last_used_at: Mapped[float | None] = mapped_column(TIME)
    expires_at: Mapped[float | None] = mapped_column(TIME)
    revoked_at: Mapped[float | None] = mapped_column(TIME)


class Workspace(Base):
    """A group of users, and of what they launch and spend; `default` always exists."""

    __tablename__ = "workspaces"

    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(TIME)


class Membership(Base):
    __tablename__ = "memberships"

    workspace: Mapped[str] = mapped_column(NAME, ForeignKey("workspaces.name", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(NAME, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(STATUS)


class Budget(Base):
    """A monthly spending limit of one user or one workspace, and what reaching it does."""

    __tablename__ = "budgets"
    __table_args__ = (UniqueConstraint("scope", "subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(STATUS)
    subject: Mapped[str] = mapped_column(NAME)
    monthly_limit: Mapped[float] = mapped_column(Double)
    warn_fraction: Mapped[float] = mapped_column(Double)
    action: Mapped[str] = mapped_column(STATUS)
    webhook_url: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(NAME)
    created_at: Mapped[float] = mapped_column(TIME)


class BudgetEvent(Base):
    """One thing a budget did in one month (warned, stopped a cluster...): unique, so it happens once.

    `object` is the cluster or job acted on, or "" for the budget itself (not NULL:
    NULLs never collide in a unique key).
    """

    __tablename__ = "budget_events"
    __table_args__ = (UniqueConstraint("budget_id", "month", "kind", "object"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    budget_id: Mapped[int] = mapped_column(Integer, ForeignKey("budgets.id", ondelete="CASCADE"))
    month: Mapped[str] = mapped_column(String(7))
    kind: Mapped[str] = mapped_column(STATUS)
    object: Mapped[str] = mapped_column(NAME)
    spent: Mapped[float] = mapped_column(Double)
    detail: Mapped[str | None] = mapped_column(Text)
    at: Mapped[float] = mapped_column(TIME)
