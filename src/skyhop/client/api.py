"""The cluster verbs, over HTTP: what the CLI calls and what `skyhop.launch(...)` is.

Long operations return a request id at once; `follow` streams its events
(phases, messages, job output) and returns the finished request record.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Callable, Iterator

from skyhop.client import arguments, http
from skyhop.client.server_process import endpoint
from skyhop.errors import SkyhopError

Event = dict[str, Any]


def _segment(value: str) -> str:
    """A user-typed name as one URL path segment (`a/b` or `a b` must not change the route)."""
    from urllib.parse import quote

    return quote(str(value), safe="")


def _cluster(name: str) -> str:
    """A cluster name checked before it is sent: a typo gets the naming rule, not a 404."""
    from skyhop.execution.names import check_cluster_name

    return check_cluster_name(name)


def _server():
    found = endpoint()
    assert found is not None
    return found


def _sent(rename: Callable[[str], str], method: str, path: str, body: Any, *, retry: bool | None = None) -> Any:
    """`http.call`, with a 422's fields named as the caller wrote them (`rename`) rather than as the body spells them."""
    try:
        return http.call(_server(), method, path, body=body, retry=retry)
    except http.InvalidRequest as error:
        raise error.renamed(rename) from None


def _argument(field: str) -> str:
    """`body.name` -> `name`: the keyword argument of the SDK verb that sent it."""
    return field.removeprefix("body.")


def submit(name: str, body: dict[str, Any]) -> str:
    """Start a long operation (launch, exec, stop, start, down); returns its request id."""
    import uuid

    inside = f"body.{name}.body."  # where FastAPI places the fields of a request's body (its type is `name`)
    # The request id is chosen here: it makes the submission idempotent, so a call cut off by a server process
    # that died is sent again (to a sibling) without the risk of starting the operation twice.
    submission = {"name": name, "body": body, "request_id": uuid.uuid4().hex}
    answer = _sent(lambda field: task_field(field.replace(inside, "body.", 1), 1), "POST", "/api/v1/requests", submission, retry=True)
    return answer["request_id"]


def events(request_id: str, *, follow: bool = True, server: Any = None) -> Iterator[Event]:
    """The request's events as they happen; the last one is `{"done": record}`. `server`: the endpoint (default: found
    or started)."""
    server = server or _server()
    response = http.open_response(server, "GET", f"/api/v1/requests/{_segment(request_id)}/events", params={"follow": follow}, timeout=None)
    try:
        for line in iter(response.readline, b""):
            if line.strip():
                try:
                    event = json.loads(line)
                except ValueError:
                    raise SkyhopError(f"The API server sent an event that is not JSON: {line[:200].decode(errors='replace')!r}.") from None
                yield event
    except OSError:
        return  # the server went away mid-stream: the events end there (`follow` says so, with how to re-attach)
    finally:
        response.close()


#: How often a follower re-attaches after its stream broke off (the server process serving it died or drained).
REATTACH = 3


def follow(request_id: str, on_event: Callable[[Event], None] | None = None) -> dict[str, Any]:
    """Stream a request to its end; raise its error if it failed; return its record.

    A stream that breaks off before the end (its server process died or
    drained, while a sibling process or the proxy's other upstreams still
    answer) is opened again, up to `REATTACH` times, skipping the events
    already shown (the log is replayed from its start, in the same order).
    Only to a server that is there: a follower never starts a local server.
    """
    from skyhop.client.server_process import endpoint

    record: dict[str, Any] | None = None
    shown = 0
    server = _server()
    for attempt in range(REATTACH + 1):
        if attempt:
            time.sleep(0.5)
            server = endpoint(autostart=False)
            if server is None:
                break
        skip = shown
        for event in events(request_id, server=server):
            if "done" in event:
                record = event["done"]
            elif skip:
                skip -= 1
            else:
                shown += 1
                if on_event is not None:
                    on_event(event)
        if record is not None:
            break
    if record is None:
        raise SkyhopError(f"The API server stopped streaming request {request_id}; re-attach with `skyhop api logs {request_id}`.")
    if record["status"] != "SUCCEEDED":
        from skyhop.server.error_codes import error_for

        raise error_for(record.get("error_code"), record.get("error") or f"Request {request_id} ended {record['status']}.")
    return record


def _print_output(event: Event) -> None:
    if "out" in event:
        sys.stdout.write(event["out"])
        sys.stdout.flush()
    elif "msg" in event:
        print(event["msg"], file=sys.stderr)


def run(name: str, body: dict[str, Any], *, stream: bool = True) -> Any:
    """Submit and wait; the SDK's blocking form of every long verb."""
    return follow(submit(name, body), _print_output if stream else None)["result"]


def with_absolute_paths(task):  # -> Task
    """Local paths as the caller meant them (relative to its working directory, not the server's)."""
    import os
    from dataclasses import replace

    def absolute(path: str) -> str:
        return os.path.abspath(os.path.expanduser(path))

    workdir = absolute(task.workdir) if isinstance(task.workdir, str) else task.workdir
    mounts = {
        dest: replace(mount, source=absolute(mount.source)) if mount.source and "://" not in mount.source else mount
        for dest, mount in task.file_mounts.items()
    }
    return replace(task, workdir=workdir, file_mounts=mounts)


def launch_body(task, cluster: str, *, detach_run: bool = False, down: bool = False, idle_minutes: float | None = None, no_setup: bool = False, dryrun: bool = False) -> dict[str, Any]:
    """The `launch` request: the task with its secrets (the server redacts what it stores)."""
    return {
        "task": with_absolute_paths(task).to_dict(redact_secrets=False), "cluster": _cluster(cluster),
        "detach_run": detach_run, "down": down, "idle_minutes": idle_minutes, "no_setup": no_setup, "dryrun": dryrun,
    }


def launch(task, cluster: str | None = None, *, detach_run: bool = False, down: bool = False, idle_minutes: float | None = None, no_setup: bool = False, dryrun: bool = False, stream: bool = True) -> dict[str, Any]:
    """Launch `task` (a `skyhop.Task`, a task mapping or a YAML path) on a new or existing cluster; returns the job's result."""
    from skyhop.execution.names import new_cluster_name

    body = launch_body(arguments.task(task), arguments.name(cluster, "cluster") or new_cluster_name(), detach_run=detach_run, down=down, idle_minutes=idle_minutes, no_setup=no_setup, dryrun=dryrun)
    return run("launch", body, stream=stream)


def exec(task, cluster: str, *, detach_run: bool = False, stream: bool = True) -> dict[str, Any]:  # noqa: A001 - the verb's name
    """Run `task` (a `skyhop.Task`, a task mapping or a YAML path) on the existing `cluster`."""
    body = {"task": with_absolute_paths(arguments.task(task)).to_dict(redact_secrets=False), "cluster": _cluster(cluster), "detach_run": detach_run}
    return run("exec", body, stream=stream)


def stop(cluster: str) -> dict[str, Any]:
    return run("stop", {"cluster": _cluster(cluster)})


def start(cluster: str) -> dict[str, Any]:
    return run("start", {"cluster": _cluster(cluster)})


def down(cluster: str, *, purge: bool = False) -> dict[str, Any]:
    return run("down", {"cluster": _cluster(cluster), "purge": purge})


def orphans() -> dict[str, Any]:
    """Cloud resources with this installation's marks that no cluster owns (`GET /api/v1/orphans`)."""
    return http.call(_server(), "GET", "/api/v1/orphans", timeout=300, expect="record")


def status(names: list[str] | None = None, *, refresh: bool = False, all_users: bool = False) -> list[dict[str, Any]]:
    """The caller's clusters (every user's with `all_users`: a role that sees all), or those named."""
    params = {"refresh": refresh, "name": arguments.names(names, "names"), "all_users": all_users or None}
    return http.call(_server(), "GET", "/api/v1/clusters", params=params, expect="records")


def queue(cluster: str) -> list[dict[str, Any]]:
    return http.call(_server(), "GET", f"/api/v1/clusters/{_cluster(cluster)}/jobs", expect="records")


def latest_job_id(cluster: str) -> int:
    """The newest job's id on `cluster` (what `logs` and `logs --status` mean without an id)."""
    jobs = queue(cluster)
    if not jobs:
        raise SkyhopError(f"Cluster '{cluster}' has no jobs yet.")
    return max(j["job_id"] for j in jobs)


def job(cluster: str, job_id: int) -> dict[str, Any]:
    return http.call(_server(), "GET", f"/api/v1/clusters/{_cluster(cluster)}/jobs/{arguments.job_id(job_id)}", expect="record")


def logs(cluster: str, job_id: int | None = None, *, follow: bool = True, tail: int | None = None, node: int | None = None) -> Iterator[bytes]:
    """A job's output as it comes: all nodes (lines prefixed `(node-R)`) or one node's own."""
    params = {
        "job_id": None if job_id is None else arguments.job_id(job_id), "follow": follow,
        "tail": None if tail is None else arguments.count(tail, "tail", minimum=0),
        "node": None if node is None else arguments.count(node, "node", minimum=0),
    }
    response = http.open_response(_server(), "GET", f"/api/v1/clusters/{_cluster(cluster)}/logs", params=params, timeout=None)
    yield from _byte_stream(response, f"`skyhop logs {cluster}{f' {job_id}' if job_id else ''}`")


def cancel(cluster: str, job_ids: list[int] | None = None, *, all_jobs: bool = False) -> dict[str, Any]:
    return http.call(_server(), "POST", f"/api/v1/clusters/{_cluster(cluster)}/cancel", body={"job_ids": arguments.job_ids(job_ids), "all": all_jobs}, expect="record")


def autostop(cluster: str, idle_minutes: float | None, *, down: bool = False) -> dict[str, Any]:
    body = {"idle_minutes": idle_minutes, "down": down, "cancel": idle_minutes is None}
    return http.call(_server(), "POST", f"/api/v1/clusters/{_cluster(cluster)}/autostop", body=body, expect="record")


def chaos_preempt(cluster: str, node: int = 0) -> dict[str, Any]:
    """Make one node of a cluster vanish as a spot reclaim would (local and ssh clusters)."""
    return http.call(_server(), "POST", f"/api/v1/clusters/{_cluster(cluster)}/chaos/preempt", body={"node": node}, expect="record")


def functions_socket(cluster: str, *, renew: bool = False) -> dict[str, Any]:
    """Where a functions session on the cluster connects: `{"socket": PATH, "nodes": N}` (skyhop/functions/session.py)."""
    return http.call(_server(), "POST", f"/api/v1/clusters/{_cluster(cluster)}/functions", body={"renew": renew}, expect="record")


def check(*, reach: bool = True) -> list[dict[str, Any]]:
    """`skyhop check` as the API server sees it: its credentials, its pools' hosts reached now."""
    return http.call(_server(), "GET", "/api/v1/check", params={"reach": reach}, expect="records")


def own_offers(provider: str) -> list[dict[str, Any]]:
    """The offers a provider that has no price catalog lists itself (this machine, SSH pools), from the server."""
    return http.call(_server(), "GET", f"/api/v1/offers/{_segment(provider)}", timeout=60)["offers"]


def availability() -> list[dict[str, Any]]:
    """What clouds that report live capacity can launch now, as the API server's credentials see it."""
    return http.call(_server(), "GET", "/api/v1/availability", timeout=120, expect="records")


def optimize(pipeline, *, all_clouds: bool = False, hours: float = 1.0) -> dict[str, Any]:
    """The plan the API server would launch `pipeline` (a `skyhop.Pipeline`) with, as `optimize --output json`.

    One task gives a plan, several a pipeline placement. Secret values stay here:
    planning needs none (`to_dict` redacts them).
    """
    pipeline = arguments.pipeline(pipeline, "pipeline")
    body = {"tasks": [task.to_dict() for task in pipeline.tasks], "edges": [list(edge) for edge in pipeline.edges],
            "name": pipeline.name, "all_clouds": all_clouds, "hours": hours}
    return http.call(_server(), "POST", "/api/v1/optimize", body=body, timeout=600, expect="record")


def cost_report(
    *, user: str | None = None, workspace: str | None = None, month: str | None = None, since: float | None = None,
) -> list[dict[str, Any]]:
    """One line per cluster lifetime; `month` (YYYY-MM) clips each to the month, `since` keeps those up after it."""
    params = {"user": arguments.name(user, "user"), "workspace": arguments.name(workspace, "workspace"), "month": arguments.name(month, "month"), "since": since}
    return http.call(_server(), "GET", "/api/v1/cost-report", params=params, expect="records")


def cost_daily(
    *, by: str = "user", user: str | None = None, workspace: str | None = None, month: str | None = None, since: float | None = None,
) -> list[dict[str, Any]]:
    """Spend per UTC day and per user (or workspace): `[{day, user|workspace, cost}]`."""
    params = {"by": by, "user": arguments.name(user, "user"), "workspace": arguments.name(workspace, "workspace"), "month": arguments.name(month, "month"), "since": since}
    return http.call(_server(), "GET", "/api/v1/cost-report/daily", params=params, expect="records")


def budgets_set(body: dict[str, Any]) -> dict[str, Any]:
    return http.call(_server(), "POST", "/api/v1/budgets", body=body, expect="record")


def budgets_list() -> list[dict[str, Any]]:
    return http.call(_server(), "GET", "/api/v1/budgets", expect="records")


def budgets_delete(scope: str, subject: str) -> dict[str, Any]:
    return http.call(_server(), "DELETE", f"/api/v1/budgets/{scope}/{subject}", expect="record")


def requests(*, active: bool = False, all_users: bool = False) -> list[dict[str, Any]]:
    return http.call(_server(), "GET", "/api/v1/requests", params={"active": active, "all_users": all_users or None}, expect="records")


def cancel_request(request_id: str) -> dict[str, Any]:
    return http.call(_server(), "POST", f"/api/v1/requests/{_segment(request_id)}/cancel", expect="record")


# --- managed jobs ---------------------------------------------------------------------

#: Most copies one `jobs_launch` makes (`ManagedJobsLaunchBody.num_jobs`).
MAX_COPIES = 10_000


def jobs_launch(tasks, *, name: str | None = None, num_jobs: int = 1, pool: str | None = None) -> list[int]:
    """Submit a managed job; returns the job ids.

    `tasks`: a `Task`, a task mapping (dict), a `Pipeline`, a list of tasks or
    mappings (run in turn), or the path of a task YAML (several documents: a
    pipeline). `name` defaults to the pipeline's; `num_jobs` copies are made.
    """
    from skyhop.execution.sync import check_sources

    pipeline = arguments.pipeline(tasks)
    for task in pipeline.tasks:  # the paths are this machine's: a missing one fails now, not at the job's first launch
        check_sources(with_absolute_paths(task))
    body = {
        "tasks": [with_absolute_paths(t).to_dict(redact_secrets=False) for t in pipeline.tasks],
        "name": arguments.name(name, "name") or pipeline.name,
        "num_jobs": arguments.count(num_jobs, "num_jobs", maximum=MAX_COPIES),
        "pool": arguments.name(pool, "pool"),
    }
    return _sent(lambda field: task_field(field, len(pipeline.tasks)), "POST", "/api/v1/managed-jobs", body)["job_ids"]


def task_field(field: str, count: int) -> str:
    """A field of a request body as the caller wrote it: `body.tasks.1.envs.A` is `task[1].envs.A` of a pipeline
    (as a multi-document YAML's errors say) and `envs.A` of a lone task (`body.task.envs.A` too); `body.num_jobs`
    is the `num_jobs` argument."""
    parts = field.split(".")
    if parts[:2] == ["body", "task"]:
        return ".".join(parts[2:]) or "task"
    if parts[:2] == ["body", "tasks"] and len(parts) > 2 and parts[2].isdigit():
        inside = ".".join(parts[3:])
        if count == 1:
            return inside or "task"
        return f"task[{parts[2]}]" + (f".{inside}" if inside else "")
    return _argument(field)


def jobs_queue(
    *, skip_finished: bool = False, all_users: bool = False, job_ids: list[int] | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Managed jobs, newest first; the `limit` newest when given."""
    params: dict[str, Any] = {"skip_finished": skip_finished, "all_users": all_users, "job_id": arguments.job_ids(job_ids)}
    if limit is not None:
        params["limit"] = limit
    return http.call(_server(), "GET", "/api/v1/managed-jobs", params=params, expect="records")


def jobs_cancel(*, job_ids: list[int] | None = None, name: str | None = None, all_jobs: bool = False, pool: str | None = None) -> dict[str, Any]:
    """Cancel managed jobs: by ids, by name, all your unfinished ones, or the unfinished ones of a pool."""
    body = {"job_ids": arguments.job_ids(job_ids), "name": arguments.name(name, "name"), "all": all_jobs, "pool": arguments.name(pool, "pool")}
    return _sent(_argument, "POST", "/api/v1/managed-jobs/cancel", body)


def jobs_resume(job_id: int) -> dict[str, Any]:
    """A PAUSED managed job (its budget was reached) back to PENDING, if the budget allows a launch now."""
    return http.call(_server(), "POST", f"/api/v1/managed-jobs/{arguments.job_id(job_id)}/resume", expect="record")


def jobs_logs(job_id: int, *, follow: bool = True, controller: bool = False) -> Iterator[bytes]:
    """A managed job's output across its recoveries (or, with `controller`, the controller's events for it)."""
    job_id = arguments.job_id(job_id)
    params = {"follow": follow, "controller": controller}
    response = http.open_response(_server(), "GET", f"/api/v1/managed-jobs/{job_id}/logs", params=params, timeout=None)
    yield from _byte_stream(response, f"`skyhop jobs logs {job_id}{' --controller' if controller else ''}`")


def _byte_stream(response, again: str, going_on: str = "the job goes on") -> Iterator[bytes]:
    """A streamed answer's bytes; a server that dies mid-stream is one sentence (with the command to rerun), not a traceback."""
    try:
        yield from iter(lambda: response.read1(65536), b"")
    except OSError as error:
        raise SkyhopError(f"The API server stopped streaming ({type(error).__name__}); {going_on}. Rerun {again} to follow it again.") from None
    finally:
        response.close()


# --- pools of workers for managed jobs ---------------------------------------------------


def jobs_pool_apply(task, name: str) -> dict[str, Any]:
    """Create or update the pool `name` from a `Task` with a `pool:` section (its workers run the task's setup once)."""
    body = {"name": arguments.name(name, "name", optional=False), "task": with_absolute_paths(arguments.task(task)).to_dict(redact_secrets=False)}
    return _sent(lambda field: task_field(field, 1), "POST", "/api/v1/managed-jobs/pools", body)


def jobs_pool_status(name: str | None = None) -> list[dict[str, Any]]:
    """Pools with their workers (cluster, status, the job each runs, infra, price)."""
    name = arguments.name(name, "name")
    return http.call(_server(), "GET", "/api/v1/managed-jobs/pools", params={"name": name} if name else {}, expect="records")


def jobs_pool_down(names: list[str] | None = None, *, all_pools: bool = False) -> dict[str, Any]:
    """Take pools down: their unfinished jobs are cancelled and every worker cluster is removed."""
    return http.call(_server(), "POST", "/api/v1/managed-jobs/pools/down", body={"names": arguments.names(names, "names"), "all": all_pools}, expect="record")
