"""Services behind the API: up, status, update, down, logs (`skyhop serve ...`).

As with worker pools, the API only writes what is wanted (a new service, its next
version, SHUTTING_DOWN) and wakes the serve controller, which makes the replicas and
the load balancer follow. Secret values are never stored: the controller of this
server gets them in memory (`remember`), as the jobs controller does.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import TYPE_CHECKING, Any, AsyncIterator

from skyhop.errors import ConflictError, NotFoundError, SkyhopError
from skyhop.server import schemas
from skyhop.server.auth import policy
from skyhop.server.auth.principal import Principal
from skyhop.server.services.submissions import REDACTED

if TYPE_CHECKING:
    from skyhop.spec.service import ServiceSpec
    from skyhop.spec.task import Task
    from skyhop.state.services import ReplicaRecord, ServiceRecord

#: Service names become part of replica cluster names (`<name>-<id>`), so they are kept short and plain.
_NAME = re.compile(schemas.PLAIN_NAME_PATTERN)
#: Most replicas a service may ask for (min, max, overprovisioned or on-demand fallback): each is a cluster.
MAX_REPLICAS = 100
#: How often a log follower looks for more output or the end of what it follows.
FOLLOW_POLL_S = 0.5
#: Service states whose controller gave up on removing them: `down` leaves them alone (tearing down again could
#: leak what is left) unless asked to `purge` them. SkyServe also counts CONTROLLER_FAILED here (its controller
#: is a VM that may be gone); skyhop's controller runs in the API server and says CONTROLLER_FAILED only while
#: it runs (a service it cannot launch for), so `down` takes such a service down as any other.
FAILED_STATES = frozenset({"FAILED_CLEANUP"})
#: Replica states in which its launch log is still being written.
_LAUNCHING = frozenset({"PENDING", "PROVISIONING"})


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise SkyhopError(
            f"Service name {name!r} is not valid: use 1-40 lowercase letters, digits and '-', starting with a letter (e.g. -n my-service)."
        )
    return name


def up(store, controller, caller: Principal, mapping: dict[str, Any], service_name: str | None) -> dict[str, Any]:
    """A new service (version 1) from a task mapping with a `service:` section (a 400 naming the field if it is wrong)."""
    from skyhop.state.errors import StateError
    from skyhop.state.services import Services

    policy.require_writer(caller)
    task, stored, withheld = _validated(mapping)
    services = Services(store)
    name = check_name(service_name or task.name or _new_name(services))
    if services.get(name) is not None:
        raise ConflictError(f"Service {name!r} already exists; change it with `skyhop serve update {name} TASK.yaml`, or pick another name (-n).")
    try:
        record = services.create(name, stored, caller.user, caller.workspace)
    except StateError as error:  # created by another request meanwhile
        raise ConflictError(str(error)) from None
    _hand_over(controller, name, record.version, task, withheld)
    return {"name": record.name, "endpoint": record.endpoint, "version": record.version}


def update(store, controller, caller: Principal, name: str, mapping: dict[str, Any], mode: str) -> dict[str, Any]:
    """The service's next version: the controller moves the replicas over (`rolling` or `blue_green`)."""
    from skyhop.state.errors import StateError
    from skyhop.state.services import Services

    check_name(name)
    services = Services(store)
    _owned(caller, name, services.get(name), write=True)
    task, stored, withheld = _validated(mapping)
    try:
        record = services.update(name, stored, mode)
    except StateError as error:  # being taken down
        raise ConflictError(str(error)) from None
    _hand_over(controller, name, record.version, task, withheld)
    return {"name": record.name, "version": record.version, "mode": record.update_mode}


def _owned(caller: Principal, name: str, record: ServiceRecord | None, *, write: bool = False) -> ServiceRecord:
    """The service if the caller may see it (and change it: `write`); another user's is as missing as none."""
    if record is None or not policy.can_read(caller, record.user):
        raise NotFoundError(f"No service named {name!r}; `skyhop serve status` lists them, `skyhop serve up` starts one.")
    if write:
        policy.require_write(caller, record.user, f"Service {name!r}")
    return record


def _validated(mapping: dict[str, Any]) -> tuple[Task, dict[str, Any], bool]:
    """(the task, what is stored: its mapping with secrets redacted, whether secret values were withheld)."""
    from skyhop.execution.unsupported import check_supported
    from skyhop.spec.errors import SpecError
    from skyhop.spec.task import Task

    task = Task.from_dict(mapping)  # raises a SpecError naming the field
    if task.service is None:
        raise SpecError("service", "is missing: a service file needs a service section", expected="service: {readiness_probe: /, replicas: 2}")
    _check_size(task.service, fixed="replicas" in mapping["service"])
    _check_tls(task.service)
    check_supported(task, hosted="services")
    task.require_envs()
    _feasible(task)
    stored = task.to_dict(redact_secrets=True)
    return task, stored, any(v == REDACTED for v in (stored.get("secrets") or {}).values())


def _check_size(spec: ServiceSpec, *, fixed: bool) -> None:
    """Replica counts in range (`fixed`: the section says `replicas: N` rather than a replica_policy)."""
    from skyhop.spec.errors import SpecError

    sizes = {
        "replicas" if fixed else "replica_policy.min_replicas": spec.min_replicas, "replica_policy.max_replicas": spec.max_replicas,
        "replica_policy.num_overprovision": spec.num_overprovision,
        "replica_policy.base_ondemand_fallback_replicas": spec.base_ondemand_fallback_replicas,
    }
    for field, value in sizes.items():
        if value is not None and value > MAX_REPLICAS:
            raise SpecError(f"service.{field}", "is out of range: each replica is a cluster", value=value, expected=f"0..{MAX_REPLICAS}")


def _check_tls(spec: ServiceSpec) -> None:
    """The endpoint's certificate and key load: the load balancer (on this machine) reads them, and one that cannot
    failed at every start, leaving the service in CONTROLLER_INIT with `[Errno 2] No such file or directory` in its log."""
    import ssl

    from skyhop.spec.errors import SpecError

    if spec.tls_certfile is None:
        return
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(spec.tls_certfile, spec.tls_keyfile)
    except (OSError, ssl.SSLError) as error:
        raise SpecError("service.tls", f"cannot be loaded ({error})", value={"keyfile": spec.tls_keyfile, "certfile": spec.tls_certfile},
                        hint="keyfile and certfile are PEM files on the API server's machine.") from None


def _feasible(task: Task) -> None:
    """Refuse at once a service whose replicas nothing here can run (the optimizer's paragraph naming the
    constraint, as `launch` and `jobs launch` do), rather than one whose launches fail over and over.
    Spot replicas with an on-demand fallback need only one of the two markets."""
    from dataclasses import replace

    from skyhop.errors import InfeasibleError
    from skyhop.planning.plan import plan_task
    from skyhop.planning.space import search_space

    space = search_space([task])
    try:
        plan_task(task, space)
    except InfeasibleError:
        spec = task.service
        assert spec is not None
        if not (task.resources.spot and (spec.base_ondemand_fallback_replicas or spec.dynamic_ondemand_fallback)):
            raise
        plan_task(replace(task, resources=replace(task.resources, use_spot=False)), space)


def _hand_over(controller, name: str, version: int, task: Task, withheld: bool) -> None:
    """Wake this server's serve controller; the secret values the store lacks go to it in memory."""
    if controller is None:
        return
    if withheld:
        controller.remember(name, version, task.to_dict(redact_secrets=False))
    controller.wake()


def _new_name(services) -> str:
    """`skyhop-service-xxxx`, as SkyServe names an unnamed service (`sky-service-xxxx`); longer once those run short."""
    import secrets

    for size in (2,) * 8 + (4,) * 8:
        name = f"skyhop-service-{secrets.token_hex(size)}"
        if services.get(name) is None:
            return name
    raise ConflictError("No free service name was found; name the service (-n NAME).")


# --- status -------------------------------------------------------------------------------


def status(store, caller: Principal, names: list[str] | None = None, *, all_users: bool = False) -> list[dict[str, Any]]:
    """`serve status`: each service (those named, or the caller's: every user's with `all_users`) with its
    replicas (docs/json-output.md)."""
    from skyhop.serve.lb.ledger import DEFAULT_POLICY
    from skyhop.serve.states import ALIVE_STATUSES
    from skyhop.state.services import Services

    services = Services(store)
    owners = policy.owners(caller, all_users)
    selected = [s for s in services.all() if (policy.can_read(caller, s.user) if names is not None or owners is None else s.user in owners)]
    if names is not None:
        missing = sorted(set(names) - {s.name for s in selected})
        if missing:
            raise NotFoundError(f"No service(s) named {', '.join(map(repr, missing))}; `skyhop serve status` lists them, `skyhop serve up` starts one.")
        selected = [s for s in selected if s.name in names]
    clusters = {c.name: c for c in store.list_clusters()}
    replicas = services.replicas(names[0] if names is not None and len(names) == 1 else None)
    alive = {s.value for s in ALIVE_STATUSES}
    now = time.time()
    out = []
    for service in selected:
        rows = [_replica_row(r, clusters.get(r.cluster)) for r in replicas if r.service == service.name]
        spec = _spec_of(service)
        out.append({
            "name": service.name, "status": service.status, "status_reason": service.status_reason,
            "version": service.version, "update_mode": service.update_mode, "user": service.user,
            "created_at": service.created_at, "uptime_s": max(0.0, now - service.created_at), "endpoint": service.endpoint,
            "target": service.target if service.target is not None else spec.min_replicas,
            "ready_replicas": sum(r["status"] == "READY" for r in rows), "total_replicas": sum(r["status"] in alive for r in rows),
            "policy": spec.policy_summary(), "load_balancing_policy": spec.load_balancing_policy or DEFAULT_POLICY,
            "replicas": rows,
        })
    return out


def annotate_replicas(store, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cost-report lines with `service` ({name, replica_id}) on those that were a service's replica.

    A replica row names its cluster exactly while the replica lives; once removed, a line of an existing
    service's owner whose cluster is named `<service>-<id>` and launched after the service was made is its
    replica (a replica takes that name unless another cluster held it then). Lines of services already taken
    down stay plain: nothing left says which clusters were theirs."""
    from skyhop.state.services import Services

    services = Services(store)
    known = services.all()
    if not known:
        return lines
    live = {r.cluster: (r.service, r.replica_id) for r in services.replicas()}
    pattern = {s.name: s for s in known}
    out = []
    for line in lines:
        found = live.get(line["cluster"])
        if found is None:
            base, _, number = line["cluster"].rpartition("-")
            service = pattern.get(base)
            if service is not None and number.isdigit() and line.get("user") == service.user and line["launched_at"] >= service.created_at:
                found = (service.name, int(number))
        if found is not None:
            line = dict(line, service={"name": found[0], "replica_id": found[1]})
        out.append(line)
    return out


def _spec_of(service: ServiceRecord) -> ServiceSpec:
    from skyhop.spec.service import ServiceSpec

    return ServiceSpec.from_dict(service.task.get("service") or {})


def _replica_row(replica: ReplicaRecord, cluster) -> dict[str, Any]:
    infra = "/".join(p for p in (cluster.provider, cluster.region, cluster.zone) if p) if cluster is not None else None
    return {
        "replica_id": replica.replica_id, "cluster": replica.cluster, "version": replica.version, "status": replica.status,
        "status_reason": replica.status_reason, "use_spot": replica.use_spot, "zone": replica.zone, "accelerator": replica.accelerator,
        "url": replica.url, "launched_at": replica.launched_at, "ready_at": replica.ready_at,
        "infra": infra, "hourly_price": cluster.hourly_price if cluster is not None else None,
    }


# --- down ---------------------------------------------------------------------------------


def down(store, controller, caller: Principal, names: list[str] | None, *, purge: bool) -> dict[str, Any]:
    """Ask each service's controller (of every service of the caller: `names` None) to take it down; a failed one is left
    alone (see FAILED_STATES) or, with `purge`, forgotten here and now after its replica clusters are removed
    as far as they can be."""
    from skyhop.state.controller_leases import ControllerLeases
    from skyhop.state.services import KIND, Services

    services = Services(store)
    records: dict[str, ServiceRecord | None]
    if names is None:
        records = {s.name: s for s in services.all() if s.user == caller.user}
    else:
        records = {name: services.get(name) for name in dict.fromkeys(names)}
    missing = [n for n, r in records.items() if r is None or not policy.can_read(caller, r.user)]
    if missing:
        raise NotFoundError(f"No service(s) named {', '.join(map(repr, missing))}; `skyhop serve status` lists them.")
    leases = ControllerLeases(store)
    out: dict[str, list[str]] = {"shutting_down": [], "purged": [], "skipped": []}
    for record in records.values():
        assert record is not None
        policy.require_write(caller, record.user, f"Service {record.name!r}")
    for name, record in records.items():
        assert record is not None
        if record.status in FAILED_STATES:
            if purge:
                _purge(store, services, name)
            out["purged" if purge else "skipped"].append(name)
            continue
        services.mark_down(name)
        leases.request_cancel(KIND, name)  # cuts a replica launch in progress short
        out["shutting_down"].append(name)
    if out["shutting_down"] and controller is not None:
        controller.wake()
    return out


def _purge(store, services, name: str) -> None:
    """Remove the replicas' clusters (forgetting those whose provider fails, as `down --purge` does), then the rows."""
    import logging

    from skyhop.execution import lifecycle
    from skyhop.serve import files

    for replica in services.replicas(name):
        try:
            lifecycle.down(store, replica.cluster, purge=True)
        except SkyhopError as error:  # e.g. its lock is held by a launch that never ends: the rows go anyway
            logging.getLogger("skyhop.server").warning("purging service %s: replica cluster %s not removed: %s", name, replica.cluster, error)
    files.remove(name)
    services.delete(name)


# --- logs ---------------------------------------------------------------------------------


def logs(store, caller: Principal, name: str, target: str, replica_id: int | None, *, follow: bool) -> AsyncIterator[bytes]:
    """The controller's log, the load balancer's, or a replica's (its launch, then its job's output); checked
    before streaming starts, so that an unknown service or replica is a 404 and not an empty stream."""
    from skyhop.serve import files
    from skyhop.server.services.log_pipe import follow_file
    from skyhop.state.services import Services

    services = Services(store)
    _owned(caller, name, services.get(check_name(name)))
    if target != "replica":
        if replica_id is not None:
            raise SkyhopError(f"A replica id goes with the replica's log, not the {target.replace('_', ' ')}'s.")
        path = files.controller_log(name) if target == "controller" else files.lb_log(name)
        return follow_file(path, lambda: services.get(name) is None, follow=follow, poll_s=FOLLOW_POLL_S)
    if replica_id is None:
        raise SkyhopError("Which replica? Give its id (`skyhop serve status NAME` lists them), or ask for the controller's or load balancer's log.")
    replica = next((r for r in services.replicas(name) if r.replica_id == replica_id), None)
    if replica is None:
        raise NotFoundError(f"Service {name!r} has no replica {replica_id}; `skyhop serve status {name}` lists them.")
    return _replica_output(store, services, replica, follow=follow)


async def _replica_output(store, services, replica: ReplicaRecord, *, follow: bool) -> AsyncIterator[bytes]:
    from skyhop.execution import lifecycle
    from skyhop.serve import files
    from skyhop.server.services.log_pipe import follow_file, pipe

    def launched() -> bool:
        now = next((r for r in services.replicas(replica.service) if r.replica_id == replica.replica_id), None)
        return now is None or now.status not in _LAUNCHING

    async for chunk in _launch_text(follow_file(files.launch_log(replica.service, replica.replica_id), launched, follow=follow, poll_s=FOLLOW_POLL_S)):
        yield chunk
    saved = files.saved_output(replica.service, replica.replica_id)
    if saved.exists():  # the program failed and its cluster is gone: what it printed was kept
        async for chunk in follow_file(saved, lambda: True, follow=False, poll_s=FOLLOW_POLL_S):
            yield chunk
        return
    try:
        _, stream = await asyncio.to_thread(lifecycle.log_stream, store, replica.cluster, None, follow=follow, tail=None)
    except SkyhopError as error:  # not up yet, or gone (preempted, torn down)
        yield f"[skyhop] Replica {replica.replica_id}'s output on '{replica.cluster}' cannot be read now: {error}\n".encode()
        return
    async for chunk in pipe(stream):
        yield chunk


async def _launch_text(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """A replica's launch log as `skyhop launch` words it. The launch writes its events as JSON lines (a resumed
    launch reads them back), which `serve logs NAME ID` showed raw: `{"phase": "provisioning"}`."""
    rest = b""
    async for chunk in chunks:
        *lines, rest = (rest + chunk).split(b"\n")
        text = b"".join(map(_event_text, lines))
        if text:
            yield text
    if rest:
        yield _event_text(rest)


def _event_text(line: bytes) -> bytes:
    """One launch event as text: phases and messages as lines, the program's output as it is, job ids not at all
    (the message after one names the job); a line that is not an event as it is."""
    import json

    from skyhop.planning.failover import Attempt

    try:
        event = json.loads(line)
        if "out" in event:
            return str(event["out"]).encode()
        if "msg" in event:
            return f"{event['msg']}\n".encode()
        if "phase" in event:
            return f"[skyhop] {event['phase']}...\n".encode()
        if "attempt" in event:
            return f"[skyhop] {Attempt.from_json(event['attempt']).line()}\n".encode()
        if "countdown" in event:
            return f"[skyhop] {event['countdown']['what']}: next try in {event['countdown']['left']}s\n".encode()
        return b"" if "job" in event else line + b"\n"
    except (ValueError, TypeError, KeyError):  # not JSON, or not one of the launch's events
        return line + b"\n"
