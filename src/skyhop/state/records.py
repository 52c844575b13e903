"""What the state store hands out: frozen dataclasses and status names.

Callers never see ORM objects: those are tied to a session (lazy loads, expiry,
accidental writes on flush) and to SQLAlchemy itself. These records are plain
values that can cross threads, be returned from the API server as JSON
(`dataclasses.asdict`), and be imported without SQLAlchemy.

The JSON fields (`resources`, `handle`, `body`, `result`) are plain dicts, fresh
for each record; treat them as read-only, changes are never written back.

Statuses are plain strings (not enums) so the database, the REST API and the
node agent all speak the same words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Cluster status.
INIT = "INIT"
UP = "UP"
STOPPED = "STOPPED"
CLUSTER_STATUSES = (INIT, UP, STOPPED)
#: Only used in cost reports: the cluster row is gone, its history remains.
TERMINATED = "TERMINATED"

# Cluster history events (the ground truth for cost).
LAUNCH = "LAUNCH"
STOP = "STOP"
START = "START"
TERMINATE = "TERMINATE"
CLUSTER_EVENTS = (LAUNCH, STOP, START, TERMINATE)
#: Events after which the cluster is billed until the next STOP/TERMINATE.
BILLING_EVENTS = (LAUNCH, START)

# API request status.
PENDING = "PENDING"
RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"
REQUEST_STATUSES = (PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED)
REQUEST_ACTIVE = (PENDING, RUNNING)
REQUEST_FINISHED = (SUCCEEDED, FAILED, CANCELLED)

# Job status: a mirror of the node agent's job table.
JOB_INIT = "INIT"
JOB_PENDING = "PENDING"
JOB_SETTING_UP = "SETTING_UP"
JOB_RUNNING = "RUNNING"
JOB_SUCCEEDED = "SUCCEEDED"
JOB_FAILED = "FAILED"
JOB_FAILED_SETUP = "FAILED_SETUP"
JOB_CANCELLED = "CANCELLED"
JOB_STATUSES = (
    JOB_INIT,
    JOB_PENDING,
    JOB_SETTING_UP,
    JOB_RUNNING,
    JOB_SUCCEEDED,
    JOB_FAILED,
    JOB_FAILED_SETUP,
    JOB_CANCELLED,
)
JOB_FINISHED = (JOB_SUCCEEDED, JOB_FAILED, JOB_FAILED_SETUP, JOB_CANCELLED)

#: The error given to requests whose API server died under them.
ORPHANED_REQUEST_ERROR = (
    "The API server stopped while this request was running (it was restarted); "
    "re-run the command or check `skyhop status`."
)


@dataclass(frozen=True, slots=True)
class ClusterRecord:
    """One live cluster (a row of `clusters`).

    `resources` describes what was launched (cloud, instance_type, cpus,
    memory_gib, accelerators, use_spot, ...); `handle` is the provider's
    `ClusterInfo` as JSON (node IPs, directories, instance ids), enough to reach
    and tear down the nodes after a restart of the server. `hourly_price` is for
    the whole cluster (all nodes). Times are unix seconds; `launched_at` and
    `status_updated_at` left as None are filled in by `StateStore.add_cluster`.
    """

    name: str
    provider: str
    region: str
    num_nodes: int = 1
    zone: str | None = None
    status: str = INIT
    status_reason: str | None = None  # why it is in that status, when that is not obvious (INIT after a lost node)
    resources: dict[str, Any] = field(default_factory=dict)
    handle: dict[str, Any] = field(default_factory=dict)
    hourly_price: float = 0.0
    autostop_minutes: float | None = None
    autostop_down: bool = False
    setup_hash: str | None = None
    user: str | None = None
    launched_at: float | None = None
    status_updated_at: float | None = None
    workspace: str | None = None  # the owner's workspace; NULL: "default"


@dataclass(frozen=True, slots=True)
class ClusterEvent:
    """One entry of a cluster's history; what cost reports are computed from.

    A copy of the cluster's description at the time of the event, so that the
    history outlives the cluster row (and a later cluster with the same name).
    """

    id: int
    cluster: str
    event: str
    at: float
    hourly_price: float
    provider: str
    region: str
    num_nodes: int
    resources: dict[str, Any]
    user: str | None = None
    workspace: str | None = None  # NULL: "default" (rows older than workspaces, single-user servers)


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A job on a cluster, as last reported by the cluster's node agent."""

    job_id: int
    status: str
    submitted_at: float
    name: str | None = None
    user: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    exit_code: int | None = None
    failure_reason: str | None = None
    num_nodes: int = 1
    resources: dict[str, Any] = field(default_factory=dict)
    #: Filled in by the store on the way out; ignored by `upsert_jobs`.
    cluster: str | None = None


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One API server request (a verb run in the background, e.g. "launch").

    `server_owner` (`host:pid:start`, as controller owners are named) and
    `server_pid` name the server process that owns the request (creator, then
    runner); a request whose owner died or expired is adopted by another
    server process (server/services/resume.py), and one with no owner (its
    server drained) is adopted at once.
    """

    request_id: str
    name: str
    status: str
    body: dict[str, Any]
    created_at: float
    log_path: str
    cluster: str | None = None
    user: str | None = None
    result: Any = None
    error: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    server_pid: int | None = None
    error_code: str | None = None
    workspace: str | None = None
    server_owner: str | None = None


@dataclass(frozen=True, slots=True)
class RequestOwnership:
    """Who holds an active request: what a server's adoption sweep reads of each (not the body, which may be large)."""

    request_id: str
    user: str | None
    server_owner: str | None
    server_pid: int | None


@dataclass(frozen=True, slots=True)
class CostLine:
    """The cost of one lifetime of a cluster (one LAUNCH up to its TERMINATE).

    `duration_s` counts billed time only (UP, not STOPPED); `hourly_price` is
    the latest price of the lifetime; `cost` sums each billed interval at the
    price it started with; `provider`, `region`, `resources` and `num_nodes`
    are the latest seen in the lifetime. `status` is UP, STOPPED or TERMINATED.
    """

    cluster: str
    provider: str
    region: str
    resources: dict[str, Any]
    num_nodes: int
    status: str
    launched_at: float
    duration_s: float
    hourly_price: float
    cost: float
    user: str | None = None
    ended_at: float | None = None
    workspace: str | None = None


@dataclass(frozen=True, slots=True)
class ManagedJobRecord:
    """A managed job (a row of `managed_jobs`; statuses in `skyhop.jobs.states`).

    `tasks` are task mappings with secret values redacted; `envs` the extra
    variables the controller gives every attempt (SKYPILOT_JOB_RANK with
    --num-jobs); `withheld` the secret/env names whose values were not stored.
    `cluster` and `agent_job_id` are the current (or last) attempt's; `pool` the worker pool it runs on.
    """

    id: int
    status: str
    tasks: list[dict[str, Any]]
    submitted_at: float
    updated_at: float
    name: str | None = None
    user: str | None = None
    resources: list[str] = field(default_factory=list)
    envs: dict[str, str] = field(default_factory=dict)
    withheld: list[str] = field(default_factory=list)
    current_task: int = 0
    recovery_count: int = 0
    restarts_on_errors: int = 0
    cluster: str | None = None
    agent_job_id: int | None = None
    started_at: float | None = None
    ended_at: float | None = None
    failure_reason: str | None = None
    pool: str | None = None
    workspace: str | None = None  # NULL: "default"


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One attempt of one task of a managed job (a row of `managed_job_attempts`).

    Written before the launch (cluster and market only), completed once the
    cluster is up (where, what, price), closed with its `outcome`
    (succeeded, failed, preempted, cancelled, no_resource).
    """

    id: int
    job_id: int
    task_index: int
    attempt: int
    cluster: str
    started_at: float
    use_spot: bool | None = None
    provider: str | None = None
    region: str | None = None
    zone: str | None = None
    instance_type: str | None = None
    spot: bool | None = None
    hourly_price: float | None = None
    agent_job_id: int | None = None
    launched_at: float | None = None
    ended_at: float | None = None
    outcome: str | None = None
    failure_reason: str | None = None
