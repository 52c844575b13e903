"""`launch`: optimize -> provision (failing over between candidates) -> bootstrap -> sync -> setup -> run.

A cluster row is written (INIT) before any machine is created, so a crash at
any later point leaves a record that `status --refresh` reconciles and `down`
removes: nothing is created that the state store does not know about.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from skyhop.errors import SkyhopError
from skyhop.execution import handles, jobs
from skyhop.execution.locks import cluster_lock
from skyhop.execution.names import check_job_name
from skyhop.execution.progress import Progress, RequestCancelled
from skyhop.execution.retry import until_up
from skyhop.execution.sync import check_sources, sync_task_files
from skyhop.execution.unsupported import NotSupportedYet, check_supported
from skyhop.optimizer import gating
from skyhop.providers.base import DEFAULT_CAPABILITIES, Capabilities, ClusterInfo, LaunchRequest, PortOpener, capabilities_of
from skyhop.providers.errors import LaunchCancelled, ProviderError
from skyhop.spec.task import Task
from skyhop.state.records import JOB_FINISHED


@dataclass(frozen=True)
class LaunchOptions:
    cluster_name: str
    #: Whom the cluster and its jobs belong to: the request's caller (never this server process's user).
    owner: str
    workspace: str | None = None
    detach_run: bool = False
    dryrun: bool = False
    down: bool = False
    idle_minutes: float | None = None
    no_setup: bool = False
    retry_until_up: bool = False
    # Managed jobs (skyhop.server.controllers.jobs): what an attempt must avoid on top of its own
    # failures (EAGER_NEXT_REGION's preempted region), and the SKYPILOT_TASK_ID that stays across attempts.
    blocked: tuple = ()
    task_id: str | None = None
    #: For a task with `api_server_access`: the job's API address and token, given its cluster's record
    #: (server/job_access.py); None where this launch cannot give any (the task is then refused).
    api_access: ApiAccess | None = field(default=None, compare=False)


#: The environment a job with `api_server_access` gets, given its cluster's record.
ApiAccess = Callable[[Any], dict[str, str]]


def _require_access(task: Task, api_access: ApiAccess | None) -> None:
    if task.api_server_access and api_access is None:
        raise NotSupportedYet("api_server_access: this launch cannot give its job access to the API server (only launches "
                              "made through the API server can); remove it or set it to false.")


def _job_secrets(task: Task, api_access: ApiAccess | None, record) -> dict[str, str] | None:
    """What the server hands the job on top of the task's own secrets: API access when the task asks for it."""
    if not task.api_server_access:
        return None
    _require_access(task, api_access)
    assert api_access is not None
    return api_access(record)


def launch(task: Task, options: LaunchOptions, progress: Progress, store) -> dict[str, Any]:
    from skyhop.execution import lifecycle

    check_supported(task)
    if not options.dryrun:
        _require_access(task, options.api_access)  # before any machine exists
    check_job_name(task.name)  # before anything is created: the name becomes the job's
    if not options.dryrun:  # a plan needs no values; running does
        task.require_envs()
    check_sources(task)
    name = options.cluster_name
    submitted = progress.recorded("job")
    if submitted and not options.dryrun:  # resumed after its job was submitted: follow it, never run it twice
        return _follow_submitted(store, name, int(submitted[-1]), options, progress)
    with cluster_lock(name):
        record = lifecycle.refreshed(store, name)
        if options.dryrun:
            return _dryrun(task, record, progress)
        created = record is None
        placement = None
        if record is None:
            passes = itertools.count()
            info, placement = until_up(
                lambda: _provision(task, options, progress, store, again=next(passes) > 0), progress, retry=options.retry_until_up
            )
            progress.info(f"New cluster '{name}' is up.")  # a generated name is what logs/exec/down need
        else:
            info = _reuse(task, record, progress, store)
        try:
            sync_task_files(task, info, progress)
            record = store.get_cluster(name)
            fingerprint = jobs.setup_fingerprint(task)
            agent = handles.agent_of(info)
            with_setup = bool(task.setup) and not options.no_setup and (created or _setup_needed(record.setup_hash, fingerprint, agent))
            progress.phase("setup" if with_setup else "running")
            spec = jobs.job_spec(task, with_setup=with_setup, cluster_name=name, user=record.user or options.owner, task_id=options.task_id,
                                 secrets=_job_secrets(task, options.api_access, record))
            job = agent.submit(spec)
            job_id = job["job_id"]
            progress.submitted(job_id)
            if with_setup:
                # Which job ran this setup: a re-launch checks it succeeded before skipping setup.
                store.update_cluster(name, setup_hash=f"{fingerprint}:{job_id}")
            # Set right after submitting (earlier, an idle timer could fire before the
            # job exists); for --down it is the backstop if this server dies.
            idle, down = _autostop_wanted(task, options)
            if idle is not None:
                agent.autostop(idle, down)
                store.update_cluster(name, autostop_minutes=idle, autostop_down=down)
        except BaseException:
            if created:
                progress.info(f"Launch failed before the job started; removing the new cluster '{name}'.")
                lifecycle.teardown(store, name)
            raise
    try:
        down_now = options.down and not options.detach_run and options.idle_minutes is None
        result = _run_job(store, name, info, job, progress, options.detach_run, down_after=down_now)
        return dict(result, plan=placement)
    except RequestCancelled:
        if created:
            progress.info(f"Cancelled; removing the new cluster '{name}'.")
            with cluster_lock(name):
                lifecycle.teardown(store, name)
        raise


def _run_job(store, name: str, info: ClusterInfo, submitted: dict[str, Any], progress: Progress, detach: bool, *, down_after: bool = False) -> dict[str, Any]:
    """Follow the job the agent just queued (`submitted`: its record then) to its end, unless `detach`."""
    from skyhop.execution import lifecycle

    agent = handles.agent_of(info)
    job_id = submitted["job_id"]
    # In the history from the start: `queue` shows it while it runs, and after a lost head.
    jobs.record_jobs(store, name, [submitted])
    if detach:
        progress.info(f"Job {job_id} submitted to '{name}'. Follow it: skyhop logs {name} {job_id}")
        return jobs.job_result(name, submitted, detached=True)
    progress.phase("running")
    try:
        job = jobs.follow(agent, job_id, progress)
    except RequestCancelled:
        raise
    except SkyhopError as error:
        job = _lost_job(store, name, job_id, error)
    if job["status"] not in JOB_FINISHED:  # the follower ended with the job still running: its head is gone
        job = _lost_job(store, name, job_id, SkyhopError(f"Following job {job_id} on '{name}' stopped before the job ended."))
    lost = lifecycle.lost_nodes(store, name) if job["status"] != "SUCCEEDED" else None
    if lost:  # the job's own reason says which rank failed; this says why
        job = dict(job, failure_reason="; ".join(filter(None, [job.get("failure_reason"), f"lost {lost}"])))
    jobs.record_jobs(store, name, [job])
    if down_after:
        progress.phase("tearing down")
        with cluster_lock(name):
            lifecycle.teardown(store, name)
    return jobs.job_result(name, job, detached=False)


def _lost_job(store, name: str, job_id: int, error: SkyhopError) -> dict[str, Any]:
    """The job's record when its head stopped answering mid-job: FAILED, saying which node was lost and why."""
    from skyhop.execution import lifecycle

    lost = lifecycle.lost_nodes(store, name)
    if lost is None:
        raise error
    previous = store.get_job(name, job_id)
    return {
        "job_id": job_id, "status": "FAILED", "exit_code": None, "failure_reason": f"the cluster lost {lost}",
        "name": previous.name if previous else None, "user": previous.user if previous else None,
        "submitted_at": previous.submitted_at if previous else time.time(), "ended_at": time.time(),
    }


def exec_task(task: Task, name: str, detach: bool, progress: Progress, store, *, task_id: str | None = None,
              api_access: ApiAccess | None = None) -> dict[str, Any]:
    """Run a task's `run` on an existing cluster (never setup), syncing its workdir first; `task_id`: a managed job's
    SKYPILOT_TASK_ID (a job on a pool worker); `api_access`: as `LaunchOptions.api_access`."""
    from skyhop.execution import lifecycle

    check_supported(task)
    _require_access(task, api_access)
    check_job_name(task.name)  # before anything is created: the name becomes the job's
    task.require_envs()
    check_sources(task)
    with cluster_lock(name):
        record = lifecycle.require_up(store, name)
        info = handles.cluster_info(record)
        _check_fits(task, record)
        sync_task_files(task, info, progress)
        spec = jobs.job_spec(task, with_setup=False, cluster_name=name, user=handles.owner_of(record), task_id=task_id,
                             secrets=_job_secrets(task, api_access, record))
        job = handles.agent_of(info).submit(spec)
        progress.submitted(job["job_id"])
    return _run_job(store, name, info, job, progress, detach)


def _follow_submitted(store, name: str, job_id: int, options: LaunchOptions, progress: Progress) -> dict[str, Any]:
    """A launch resumed after it had submitted its job: the cluster exists, the job runs (or ran); follow it."""
    from skyhop.execution import lifecycle

    with cluster_lock(name):
        record = lifecycle.refreshed(store, name)
    if record is None:
        gone = "it was taken down when the job ended (--down)" if options.down else "it was removed since"
        raise SkyhopError(f"Job {job_id} was submitted to '{name}' before the API server stopped, and the cluster is gone: {gone}.")
    info = handles.cluster_info(record)
    submitted = handles.agent_of(info).jobs([job_id])[0]
    down_now = options.down and not options.detach_run and options.idle_minutes is None
    result = _run_job(store, name, info, submitted, progress, options.detach_run, down_after=down_now)
    return dict(result, plan={"attempts": progress.recorded("attempt")})


def _setup_needed(stored: str | None, fingerprint: str | None, agent) -> bool:
    """Setup runs again when it changed, or when the job that last ran it did not get through it."""
    digest, _, job_id = (stored or "").partition(":")
    if digest != fingerprint or not job_id.isdigit():
        return True
    try:
        job = agent.jobs([int(job_id)])[0]
    except SkyhopError:
        return True
    return job["status"] == "FAILED_SETUP" or (job["status"] == "CANCELLED" and not job.get("started_at"))


def _down_backstop_minutes() -> float:
    """The agent's autodown idle time for `launch --down` with a server that follows the job.

    The server tears the cluster down itself right after the job; the agent's autodown
    is only the backstop for a server that died, so it waits this long after the job
    (and after the last log follower) instead of racing the server's own
    follow-then-teardown: 30 s, or config.yaml's `api_server: down_backstop_seconds`
    (tests that kill the server set a few seconds).
    """
    from skyhop.config import load_config
    from skyhop.server import settings

    return settings.from_config(load_config().get("api_server")).down_backstop_s / 60


def _autostop_wanted(task: Task, options: LaunchOptions) -> tuple[float | None, bool]:
    if options.down:
        if options.idle_minutes is not None:
            return options.idle_minutes, True
        return (0.0 if options.detach_run else _down_backstop_minutes()), True
    if options.idle_minutes is not None:
        return options.idle_minutes, False
    autostop = task.resources.autostop
    if autostop is not None and autostop.enabled and autostop.idle_minutes is not None:
        return float(autostop.idle_minutes), bool(autostop.down)
    return None, False


def _dryrun(task: Task, record, progress: Progress) -> dict[str, Any]:
    if record is not None:
        _check_fits(task, record)
        return {"dryrun": True, "reuse": record.name, "plan": None}
    from skyhop import sdk

    progress.phase("optimizing")
    plan = sdk.optimize(task)
    return {"dryrun": True, "reuse": None, "plan": plan.to_json()}


def _provision(task: Task, options: LaunchOptions, progress: Progress, store, *, again: bool = False) -> tuple[ClusterInfo, dict[str, Any]]:
    """Launch the cheapest offer; each typed provider failure blocks what it names, then plan again.

    Capacity blocks that zone, quota that region, auth that cloud (the error
    types carry the scope), so a full zone moves the launch to the next zone,
    then region, then cloud, in price order. Every attempt is an event in the
    request's log: that is the blocked set, persisted with the request, and a
    request resumed on the same log starts from it. Returns the plan as it
    played out (`--output json`): the chosen infra, every attempt, and the
    first plan's candidates with their outcome. `again`: a later pass of
    `--retry-until-up`, which tries every offer anew (capacity comes back),
    where a resumed first pass keeps what its log already ruled out.
    `options.blocked`: entries ruled out before the first try (a managed job's preempted region).
    """
    from skyhop.errors import InfeasibleError
    from skyhop.planning import failover
    from skyhop.planning.plan import plan_task
    from skyhop.planning.space import search_space
    from skyhop.providers import registry

    progress.phase("optimizing")
    space = search_space([task])
    attempts = [] if again else [failover.Attempt.from_json(a) for a in progress.recorded("attempt")]
    first = None

    def failed(candidate, reason: str, scope: str) -> None:
        """Record the failure (the request log is the persisted blocked set); clients show it as it happens."""
        attempt = failover.Attempt.failed(candidate, reason, scope)
        attempts.append(attempt)
        progress.attempt(attempt.to_json())

    while True:
        try:
            plan = plan_task(task, space, tuple(options.blocked) + failover.blocked_by(attempts))
        except InfeasibleError as error:
            if not attempts:
                raise
            raise failover.FailoverError(attempts, str(error)) from None
        if first is None:
            first = plan
            for note in plan.notes:
                progress.info(note)
        candidate = plan.chosen
        offer = candidate.offer
        where = failover.where(offer)
        try:
            provider = registry.get(offer.cloud)
        except SkyhopError as error:
            failed(candidate, str(error), "cloud")
            continue
        try:
            info = _bring_up(provider, candidate, task, options, store, progress)
        except ProviderError as error:
            if error.scope is None:
                raise
            failed(candidate, str(error), error.scope)
            progress.check_cancelled()
            continue
        attempts.append(failover.Attempt.launched(candidate))
        if len(attempts) > 1:  # the failover as it played out, once, before the job's output
            progress.info(f"Launched on {where} after {len(attempts) - 1} failed attempt(s):\n{failover.table(attempts)}")
        return info, {
            "chosen": where,
            "attempts": [a.to_json() for a in attempts],
            "candidates": _outcomes(first.candidates, attempts),
            "notes": list(first.notes),
        }


def _bring_up(provider, candidate, task: Task, options: LaunchOptions, store, progress: Progress) -> ClusterInfo:
    """Create the candidate's machines under a write-ahead INIT record, then open ports and install the agent.

    A provider failure leaves no record (failover tries elsewhere); a failure
    after the machines exist removes them too.
    """
    from skyhop.planning.failover import where as where_of
    from skyhop.state.records import ClusterRecord

    offer = candidate.offer
    where = where_of(offer)
    name, user = options.cluster_name, options.owner
    progress.phase("provisioning")
    progress.info(f"Provisioning {task.num_nodes}x {offer.instance_type} on {where} (${candidate.cluster_hourly_price:.4g}/h).")
    request = _launch_request(candidate, task, name, user, progress)
    # The launch id goes into the write-ahead record: a crash during the cloud call still names the tag to find.
    resources = dict(handles.launched_resources(offer, candidate.spot), launch_id=request.launch_id)
    if task.resources.ports:  # `status --endpoints` lists them
        resources["ports"] = list(task.resources.ports)
    store.add_cluster(
        ClusterRecord(
            name=name, provider=offer.cloud, region=offer.region, zone=offer.zone, num_nodes=task.num_nodes,
            resources=resources, hourly_price=candidate.cluster_hourly_price, user=user, workspace=options.workspace,
        )
    )
    try:
        info = provider.launch(request)
    except LaunchCancelled as cancelled:  # the provider saw the cancel flag mid-wait and cleaned up
        store.remove_cluster(name)
        raise RequestCancelled(str(cancelled)) from None
    except BaseException:
        store.remove_cluster(name)
        raise
    try:
        store.update_cluster(name, handle=info.to_json(), region=info.region, zone=info.zone)
        # Planning puts a request with ports only on providers that honour them (`optimizer/gating.py`).
        if candidate.request.ports and isinstance(provider, PortOpener):
            provider.open_ports(info, candidate.request.ports)
        handles.agent_of(info).install(handles.agent_config(info, resources, user))
        store.set_cluster_status(name, "UP", hourly_price=candidate.cluster_hourly_price)
    except BaseException:
        progress.info(f"Setting up the nodes failed; removing what was created on {where}.")
        provider.terminate(info)
        store.remove_cluster(name)
        raise
    return info


def _launch_request(candidate, task: Task, name: str, user: str, progress: Progress) -> LaunchRequest:
    """What the provider is asked for: the offer, the task's machine choices for it, and the ownership marks."""
    from skyhop.providers import _owned

    wanted = candidate.request
    image = wanted.image_id
    if image is not None and not isinstance(image, str):  # {region: image}: this offer's region's
        image = image.get(candidate.offer.region)
    return LaunchRequest(
        name, candidate.offer, task.num_nodes, candidate.spot,
        cpus=task.resources.cpus.value if task.resources.cpus else None,
        memory_gib=task.resources.memory.value if task.resources.memory else None,
        image_id=image, disk_size_gb=wanted.disk_size, disk_tier=wanted.disk_tier, ports=tuple(wanted.ports),
        labels=dict(wanted.labels or {}), user=user, launch_id=_owned.new_launch_id(), owner_id=_owned.owner_id(),
        cancelled=progress.cancel_event.is_set,
    )


def _outcomes(candidates, attempts) -> list[dict[str, Any]]:
    """The first plan's candidates, each `chosen`, `skipped` (with the reason) or `not tried`."""
    from skyhop.planning import failover

    by_offer = {(a.infra, a.resources): a for a in attempts}
    out = []
    for c in candidates:
        attempt = by_offer.get((failover.where(c.offer), failover.describe(c)))
        outcome = "not tried" if attempt is None else "chosen" if attempt.outcome == failover.LAUNCHED else "skipped"
        out.append({
            "infra": failover.where(c.offer), "instance_type": c.offer.instance_type, "cluster_hourly_price": c.cluster_hourly_price,
            "outcome": outcome, "reason": attempt.reason if attempt else None,
        })
    return out


def _reuse(task: Task, record, progress: Progress, store) -> ClusterInfo:
    from skyhop.execution import lifecycle

    _check_fits(task, record)
    if record.status == "STOPPED":
        progress.phase("starting")
        return lifecycle.start_cluster(store, record)
    if record.status != "UP":
        raise SkyhopError(f"Cluster '{record.name}' is {record.status}: its launch did not finish. Run `skyhop down {record.name}` and launch again.")
    progress.info(f"Reusing cluster '{record.name}'.")
    return handles.cluster_info(record)


def _check_fits(task: Task, record) -> None:
    """A task sent to an existing cluster must fit what the cluster is; say what differs."""
    have = record.resources or {}
    nodes = [f"{task.num_nodes} nodes (the cluster has {record.num_nodes})"] if task.num_nodes > record.num_nodes else []
    problems: list[str] = []
    for tier in task.resources.expand():
        for request in tier:
            missing = _mismatches(request, record, have)
            if not missing and not nodes:
                return  # one alternative that fits is enough
            problems.extend(missing)
    unique = ", ".join(dict.fromkeys(nodes + problems))
    raise SkyhopError(
        f"Cluster '{record.name}' is {record.provider} {handles.describe_resources(have, record.num_nodes)}; "
        f"the task asks for {unique}. Use another cluster, or `skyhop down {record.name}` first."
    )


def _mismatches(request, record, have) -> list[str]:
    problems = []
    if request.infra is not None and not request.infra.matches(record.provider, record.region, record.zone):
        problems.append(f"infra {request.infra}")
    acc = request.accelerator
    had = have.get("accelerators") or {}
    if acc is not None and not any(_same_acc(acc.name, n) and c >= acc.count for n, c in had.items()):
        problems.append(f"{acc.name}:{acc.count:g}")
    if request.cpus is not None and have.get("cpus") is not None and request.cpus.value > have["cpus"]:
        problems.append(f"{request.cpus.value:g} CPUs")
    if request.memory is not None and have.get("memory_gib") is not None and request.memory.value > have["memory_gib"]:
        problems.append(f"{request.memory.value:g} GB of memory")
    # A new cluster gets this from planning (`optimizer/gating.py`); an existing one is checked here.
    for feature, what in gating.missing_features(request, _capabilities(record.provider)):
        problems.append(f"{feature} {gating.asked(request, feature)} ({what} is not supported yet on {record.provider})")
    return problems


def _capabilities(provider_name: str) -> Capabilities:
    from skyhop.providers import registry

    try:
        return capabilities_of(registry.get(provider_name))
    except SkyhopError:
        return DEFAULT_CAPABILITIES


def _same_acc(a: str, b: str) -> bool:
    from skyhop.spec.accelerators import accelerator_key

    return accelerator_key(a) == accelerator_key(b)

