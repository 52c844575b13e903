"""What the API accepts and answers: pydantic models and typed parameters.

Every body and query parameter is typed and bounded here, so a malformed
request is refused by FastAPI with a 4xx that names the field before any
route code runs (a list where an object belongs, `idle_minutes: "abc"`, a job
id too big for the agent's integer, `tail=-5`). Limits are generous for
real use and small enough that nothing downstream overflows.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Union

from fastapi import Body, Path, Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidatorFunctionWrapHandler, WrapValidator, model_validator

from skyhop.execution.names import MAX_JOB_NAME
from skyhop.spec.task import MAX_NODES

#: Largest job id, node rank or count the API passes on (SQLite integers are 64-bit).
MAX_ID = 2**31 - 1
#: A cluster name as typed; the naming rule itself is checked by `skyhop.execution.names`.
#: The rule of `execution.names.check_cluster_name`, so a bad name is a 422 naming the field.
CLUSTER_NAME_PATTERN = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
ClusterName = Annotated[str, Field(min_length=1, max_length=63, pattern=CLUSTER_NAME_PATTERN)]
JobId = Annotated[int, Field(ge=1, le=MAX_ID)]
#: Idle minutes for autostop: up to a year.
IdleMinutes = Annotated[float, Field(ge=0, le=525_600, allow_inf_nan=False)]

#: Path parameters declare the pattern of the name they take, so a value the description allows is never
#: refused by the route's own check (a fuzzer, or a client generated from the description, relies on it).
ClusterPath = Annotated[str, Path(min_length=1, max_length=63, pattern=CLUSTER_NAME_PATTERN)]
JobIdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
RequestIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_-]+$")]
JobIdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
TailQuery = Annotated[int | None, Query(ge=0, le=10_000_000)]
NodeQuery = Annotated[int | None, Query(ge=0, le=MAX_ID)]
LimitQuery = Annotated[int, Query(ge=1, le=10_000)]


class _Body(BaseModel):
    """Unknown fields are refused: a misspelt option must not be silently ignored."""

    model_config = ConfigDict(extra="forbid")


#: `envs` / `secrets` as `Task.to_dict` writes them: string values (null: to be given with --env). The names are the
#: parser's to check (`check_env_name`): its answer says what a variable name may hold.
EnvMap = dict[str, StrictStr | None]


class TaskShape(_Body):
    """The types of a task mapping's top-level fields, as `Task.to_dict` writes them.

    The task parser (`Task.from_dict`) reads YAML, where `run: 123` or an env
    value `1` is a number the user meant as text, so it converts them. A raw
    API body is no YAML file: a number where a script or a value belongs is a
    client bug, refused with a 422 naming the field (`body.tasks.0.run`)
    before the parser could quietly accept it. Nested sections (resources,
    service, pool, ...) are checked by the parser, which names their fields too.
    """

    name: StrictStr | None = None
    run: StrictStr | None = None
    setup: StrictStr | None = None
    workdir: StrictStr | dict[str, StrictStr] | None = None
    num_nodes: StrictInt = Field(default=1, ge=1, le=MAX_NODES)
    resources: dict[str, Any] | None = None
    envs: EnvMap | None = None
    secrets: EnvMap | None = None
    file_mounts: dict[str, StrictStr | dict[str, Any]] | None = None
    volumes: dict[str, StrictStr | dict[str, Any]] | None = None
    service: dict[str, Any] | None = None
    pool: dict[str, Any] | None = None
    api_server_access: StrictBool | None = None
    inputs: dict[str, float] | None = None
    outputs: dict[str, float] | None = None
    config: dict[str, Any] | None = None


def _task_shape(value: Any, handler: ValidatorFunctionWrapHandler) -> dict[str, Any]:
    """The mapping unchanged (what the routes parse and store), once its fields have the types of `TaskShape`
    and it holds no number JSON cannot (Python's parser reads `Infinity`, PostgreSQL's JSON refuses it)."""
    mapping = handler(value)
    TaskShape.model_validate(mapping)
    bad = _non_finite(mapping)
    if bad is not None:
        raise ValueError(f"{bad} is not a finite number (JSON holds no Infinity or NaN)")
    return mapping


def _non_finite(value: Any) -> str | None:
    """Where the first Infinity or NaN in `value` is (`service.readiness_probe.post_data.a`), or None.

    Walked with a stack, not recursion: a body nested as deep as the JSON parser allows must not
    overflow the server's stack here.
    """
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return path
        if isinstance(item, dict):
            stack.extend((f"{path}.{key}" if path else str(key), inner) for key, inner in item.items())
        elif isinstance(item, list):
            stack.extend((f"{path}[{index}]", inner) for index, inner in enumerate(item))
    return None


#: A task in a request body: a plain mapping whose fields are typed by `TaskShape` (errors keep their place: `tasks.0.run`).
TaskMapping = Annotated[dict[str, Any], WrapValidator(_task_shape, json_schema_input_type=TaskShape)]


class TaskBody(_Body):
    """Fields every task-running request shares; `task` is a task mapping (`Task.to_dict` shape)."""

    task: TaskMapping
    cluster: ClusterName
    detach_run: bool = False
    envs: dict[str, str] | None = None


class LaunchBody(TaskBody):
    down: bool = False
    idle_minutes: IdleMinutes | None = None
    no_setup: bool = False
    dryrun: bool = False
    retry_until_up: bool = False


class LifecycleBody(_Body):
    cluster: ClusterName
    purge: bool = Field(default=False, description="down only: forget the cluster even if its provider is unreachable")
    force: bool = Field(default=False, description="start only: re-install an up cluster's agent")
    retry_until_up: bool = Field(default=False, description="start only: keep retrying while capacity is short")


#: A client-chosen request id (the idempotency key of a submission): a retried POST finds its request instead of making another.
ClientRequestId = Annotated[str, Field(min_length=16, max_length=64, pattern=r"^[0-9A-Za-z_-]+$")]


class _Submission(_Body):
    request_id: ClientRequestId | None = Field(
        default=None, description="chosen by the client (e.g. a uuid4 hex): sending the same submission again returns the same request",
    )


class LaunchRequest(_Submission):
    name: Literal["launch"]
    body: LaunchBody


class ExecRequest(_Submission):
    name: Literal["exec"]
    body: TaskBody


class LifecycleRequest(_Submission):
    name: Literal["stop", "start", "down"]
    body: LifecycleBody

    @model_validator(mode="after")
    def _purge_only_down(self) -> LifecycleRequest:
        if self.body.purge and self.name != "down":
            raise ValueError(f"purge applies to down, not {self.name}")
        return self


#: `provider:kind:id`, as `GET /api/v1/orphans` lists them.
OrphanKey = Annotated[str, Field(min_length=3, max_length=512, pattern=r"^[a-z0-9_-]+:[A-Za-z0-9_.-]+:[^\s]+$")]


class OrphansBody(_Body):
    keys: list[OrphanKey] = Field(min_length=1, max_length=10_000)


class OrphansRequest(_Submission):
    """Remove the listed orphans (those that are still orphans when the request runs)."""

    name: Literal["down-orphans"]
    body: OrphansBody


AnyRequest = Union[LaunchRequest, ExecRequest, LifecycleRequest, OrphansRequest]
#: `POST /api/v1/requests`: the request type (`name`) picks the body's model.
SubmitRequest = Annotated[AnyRequest, Body(discriminator="name")]


class Submitted(BaseModel):
    request_id: str


class CancelJobsBody(_Body):
    """Neither ids nor `all`: the latest running or pending job."""

    job_ids: list[JobId] = Field(default_factory=list, max_length=10_000)
    all: bool = False

    @model_validator(mode="after")
    def _not_both(self) -> CancelJobsBody:
        if self.all and self.job_ids:
            raise ValueError("give job_ids or all=true, not both")
        return self


class AutostopBody(_Body):
    idle_minutes: IdleMinutes | None = None
    down: bool = False
    cancel: bool = False

    @model_validator(mode="after")
    def _minutes_unless_cancel(self) -> AutostopBody:
        if not self.cancel and self.idle_minutes is None:
            raise ValueError("idle_minutes is required unless cancel is true")
        return self


class ChaosPreemptBody(_Body):
    node: int = Field(default=0, ge=0, le=MAX_ID)


class FunctionsBody(_Body):
    """`renew`: the socket path given before did not answer (a restarted SSH connection); set the forward up again."""

    renew: bool = False


class FunctionsAnswer(BaseModel):
    """Where a functions session connects: the cluster's agent socket as reachable on the server's machine."""

    socket: str
    nodes: int


class RequestCancelAnswer(BaseModel):
    request_id: str
    cancelled: bool
    message: str


class ErrorBody(BaseModel):
    """Every error answer: a stable `code` (see docs/json-output.md) and a readable `detail`."""

    code: str
    detail: str
    fields: list[str] = Field(default_factory=list, description="the offending fields, for invalid_request")


# --- managed jobs (`/api/v1/managed-jobs`) ---------------------------------------------

ManagedJobIdPath = Annotated[int, Path(ge=1, le=MAX_ID)]


class ManagedJobsLaunchBody(_Body):
    """A managed job: one task, or several run in turn (a pipeline); `num_jobs` copies (SKYPILOT_JOB_RANK 0..N-1);
    `pool`: run on that worker pool's clusters instead of launching its own."""

    tasks: list[TaskMapping] = Field(min_length=1, max_length=100)
    name: str | None = Field(default=None, min_length=1, max_length=MAX_JOB_NAME)
    num_jobs: int = Field(default=1, ge=1, le=10_000)
    pool: str | None = Field(default=None, max_length=256)


#: Most workers one pool keeps (each is a cluster).
MAX_POOL_WORKERS = 100


class PoolApplyBody(_Body):
    """`jobs pool apply`: the pool's name and its task mapping (with a `pool:` section)."""

    name: str = Field(min_length=1, max_length=64)
    task: TaskMapping


class _NamesOrAll(_Body):
    """`down` of pools or services: exactly one of `names`, `all`."""

    names: list[str] = Field(default_factory=list, max_length=1000)
    all: bool = False

    @model_validator(mode="after")
    def _exactly_one(self) -> _NamesOrAll:
        if bool(self.names) == self.all:
            raise ValueError("give exactly one of names or all=true")
        return self


class PoolDownBody(_NamesOrAll):
    """`jobs pool down`: the pools named, or all."""


class ManagedJobsSubmitted(BaseModel):
    job_ids: list[int]


class ManagedJobsCancelBody(_Body):
    """Exactly one of: `job_ids`, `name`, `all` (the caller's unfinished jobs), `pool` (those of that pool)."""

    job_ids: list[JobId] = Field(default_factory=list, max_length=10_000)
    name: str | None = Field(default=None, min_length=1, max_length=MAX_JOB_NAME)
    all: bool = False
    pool: str | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _exactly_one(self) -> ManagedJobsCancelBody:
        given = sum((bool(self.job_ids), self.name is not None, self.all, self.pool is not None))
        if given != 1:
            raise ValueError("give exactly one of job_ids, name, all=true or pool")
        return self


# --- services (`/api/v1/serve`) ----------------------------------------------------------

#: A service name as typed (the naming rule itself is `services.serve.check_name`'s, whose message says it).
ServiceName = Annotated[str, Field(min_length=1, max_length=64)]
#: Service and managed-job pool names: they become part of cluster names, so short and plain (`check_name`).
PLAIN_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,39}$"
ServiceNamePath = Annotated[str, Path(min_length=1, max_length=40, pattern=PLAIN_NAME_PATTERN)]
ReplicaIdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]


class ServeUpBody(_Body):
    """`serve up`: a task mapping with a `service:` section; the name defaults to the task's (or a generated one)."""

    task: TaskMapping
    service_name: ServiceName | None = None


class ServeUpdateBody(_Body):
    """`serve update`: the service's next version, reached replica by replica (`rolling`) or all at once (`blue_green`)."""

    name: ServiceName
    task: TaskMapping
    mode: Literal["rolling", "blue_green"] = "rolling"


class ServeDownBody(_NamesOrAll):
    """`purge` also forgets a service whose controller could not clean it up."""

    names: list[ServiceName] = Field(default_factory=list, max_length=1000)
    all: StrictBool = False
    purge: StrictBool = False


# --- budgets (`/api/v1/budgets`) ----------------------------------------------------------

#: A user or workspace name as budgets hold it (the naming rule of users and workspaces).
BudgetSubject = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


class BudgetSetBody(_Body):
    """`budgets set`: the monthly limit (USD) of one user or one workspace, and what reaching it does."""

    scope: Literal["user", "workspace"]
    subject: BudgetSubject
    monthly_limit: float = Field(gt=0, le=1e9, allow_inf_nan=False)
    warn_fraction: float = Field(default=0.8, gt=0, le=1, allow_inf_nan=False)
    action: Literal["refuse", "refuse_and_stop"] = "refuse"
    webhook_url: str | None = Field(default=None, min_length=1, max_length=2048)
BudgetSubjectPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
