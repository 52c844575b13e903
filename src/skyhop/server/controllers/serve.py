"""The serve controller: keeps each service's replicas and load balancer up, on the controller base (kind `service`).

One asyncio task per service (`ServiceRun`). Every `probe_seconds` it re-reads the
service and its replicas and:

- makes sure the service's load balancer process runs (started, or adopted after a
  server restart: it keeps serving while no controller runs; `serve.lb_process`);
- probes every replica that should answer (threads, all at once) and moves it
  STARTING -> READY, READY <-> NOT_READY; a replica that fails its probe is checked
  for a lost cluster (PREEMPTED) or an ended run (FAILED); one never ready within
  `initial_delay_seconds` is FAILED_INITIAL_DELAY, one failing longer than
  `probe_failure_seconds` FAILED_PROBING. Their clusters are torn down; rows of
  replicas whose program failed (FAILED, FAILED_INITIAL_DELAY) stay listed, because
  they are what stops the autoscaler from crash-looping a broken version;
- every `decision_seconds` (5 s while scaled to zero) asks `serve.autoscaler.decide`
  how many replicas to launch and which to remove, with the arrivals the load
  balancer counted (a request held because no replica exists counts as one, so a
  service scaled to zero wakes on its first request);
- launches replicas in the background through the normal launch path (optimizer,
  failover): a row with a fresh id and cluster name first (PENDING), then the
  cluster with the task's setup, then its `run` as a job with
  `SKYPILOT_SERVE_REPLICA_ID` and `SKYHOP_SERVE_PORT` (the service's port, or a free
  one of its own where the provider's nodes share one network);
- pins each spot replica to the zone SpotHedge's placer chose when the service names
  `spot_placer: dynamic_fallback` (`serve.spot_zones`); the placer hears preemptions, launches
  refused for capacity and READY replicas. It lives in this run's memory: after a restart it is
  built again with every zone active, reading the zones of the replicas already up;
- drains a replica before removing it: out of the routes first, torn down once the
  load balancer reports none of its requests in flight (or `drain_seconds` passed);
- writes the routes (READY replicas; in a blue-green update only those of the
  newest version that has enough of them) and the service status.

`serve down` (status SHUTTING_DOWN, or the lease's cancel flag) stops the load
balancer, tears every replica down, then deletes the service.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import threading
import time
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from skyhop.errors import SkyhopError
from skyhop.jobs.settings import JobsSettings
from skyhop.serve import autoscaler, files, lb_process, spot_zones
from skyhop.serve.autoscaler import Observation, Policy, ReplicaView, State
from skyhop.serve.settings import ServeSettings
from skyhop.serve.states import ReplicaStatus, ServiceStatus, is_terminal, service_status
from skyhop.server.controllers import cluster_ops
from skyhop.server.controllers.base import Controller, ControllerSettings, ObjectContext
from skyhop.spec.infra import Infra
from skyhop.state.services import KIND, SHUTTING_DOWN, ReplicaRecord, ServiceRecord, Services

log = logging.getLogger("skyhop.controllers.serve")

#: How long after a failed launch the service launches again (a broken cloud must not be hammered).
RETRY_S = 30.0
#: Rows kept for display after their replica's program failed (with its cluster gone), newest first.
KEEP_FAILED = 5
#: How many probe intervals (at most 10 s) a version whose secret values are withheld waits for them before the service says it cannot launch.
SECRETS_WAIT_PROBES = 20
#: How long a load balancer just started may take to accept connections before the step goes on without it.
LB_START_S = 10.0
#: Ports given to replicas on a shared machine in the last HANDED_OUT_S seconds (their rows may not say so yet).
_PORTS_LOCK = threading.Lock()
_HANDED_OUT: dict[int, float] = {}
HANDED_OUT_S = 60.0
#: Where a replica listens when the service names no port (SkyServe requires one; 8080 is its examples').
DEFAULT_PORT = 8080
_PROBED = frozenset({ReplicaStatus.STARTING, ReplicaStatus.READY, ReplicaStatus.NOT_READY})
_KEPT_FAILURES = frozenset({ReplicaStatus.FAILED, ReplicaStatus.FAILED_INITIAL_DELAY})


class ServeController(cluster_ops.ClusterWork):
    """Hosts every service of this server process (see the module doc)."""

    def __init__(self, store, settings: ServeSettings | None = None, jobs: JobsSettings | None = None) -> None:
        super().__init__("serve", check_workers=8)  # the checks include every replica's probe
        self.store = store
        self.settings = settings or ServeSettings()
        self.services = Services(store)
        jobs = jobs or JobsSettings()
        self.controller = Controller(store, KIND, self._drive, ControllerSettings(tick_s=jobs.tick_s, lease_ttl_s=jobs.lease_s))
        #: Full tasks (secret values included) by (service, version), received by this process only.
        self._tasks: dict[tuple[str, int], dict[str, Any]] = {}

    def remember(self, name: str, version: int, task: dict[str, Any]) -> None:
        """The task with its secret values, which the store keeps redacted (see managed jobs)."""
        self._tasks[(name, version)] = task

    def task_of(self, service: ServiceRecord) -> dict[str, Any]:
        """The task to launch the service's current version with: the remembered one, or the stored one when
        it withholds nothing (see `missing_secrets`)."""
        return self._tasks.get((service.name, service.version), service.task)

    def missing_secrets(self, service: ServiceRecord) -> list[str]:
        """Secrets of the current version whose values the store withholds and this process was not given."""
        from skyhop.spec.task import REDACTED

        if (service.name, service.version) in self._tasks:
            return []
        return sorted(k for k, v in (service.task.get("secrets") or {}).items() if v == REDACTED)

    async def _drive(self, ctx: ObjectContext) -> None:
        await ServiceRun(self, ctx.object_id, ctx).run()


class ServiceRun:
    """One service being kept; every step re-reads the service and its replicas from the store."""

    def __init__(self, owner: ServeController, name: str, ctx: ObjectContext) -> None:
        self.owner = owner
        self.services = owner.services
        self.store = owner.store
        self.settings = owner.settings
        self.name = name
        self.ctx = ctx
        self.state: State | None = None
        self._decided_at = 0.0
        self._retry_at = 0.0
        self._launches: dict[int, asyncio.Task[None]] = {}
        self._drains: dict[int, asyncio.Task[None]] = {}
        self._starting_since: dict[int, float] = {}
        self._failing_since: dict[int, float] = {}
        self._routes: tuple[list[lb_process.RouteEntry], bool] | None = None
        #: The last load balancer's exit message while none serves (shown as the status reason).
        self._lb_error: str | None = None
        self._secrets_wait: dict[int, float] = {}
        #: Why the service cannot launch replicas (CONTROLLER_FAILED), or None.
        self._blocked: str | None = None
        #: The budget refusal last noted in the controller log (a reached budget launches no replica; noted once).
        self._budget_note: str | None = None
        #: SpotHedge's zones for spot replicas (`spot_placer: dynamic_fallback`), in memory: rebuilt after a restart.
        self._spot: spot_zones.SpotPlacement | None = None

    async def run(self) -> None:
        try:
            while True:
                service = await asyncio.to_thread(self.services.get, self.name)
                if service is None:
                    return
                if self.ctx.cancelled.is_set() or service.status == SHUTTING_DOWN:
                    await self._down(service)
                    return
                try:
                    await self._step(service)
                except Exception:  # the database may be briefly unreachable: keep this run and its launches
                    log.exception("service %s: a step failed; trying again at the next probe", self.name)
                await self.ctx.sleep(self.settings.probe_s)
        finally:
            for task in (*self._launches.values(), *self._drains.values()):
                task.cancel()

    # --- one step ---------------------------------------------------------------------

    async def _step(self, service: ServiceRecord) -> None:
        service = await self._load_balancer(service)
        policy = Policy.of(_spec(self.owner.task_of(service)))
        replicas = await self._adopt(await asyncio.to_thread(self.services.replicas, self.name))
        replicas = await self._probe_all(service, replicas)
        stats = await asyncio.to_thread(lb_process.read_stats, self.name)
        now = time.time()
        state = self._state(service, policy, replicas)
        interval = self.settings.decision_s
        if state.target == 0:  # a request may be waiting on nothing: look more often
            interval = min(interval, autoscaler.NO_REPLICA_DECISION_INTERVAL_S)
        if now - self._decided_at >= interval:
            await self._decide(service, policy, replicas, stats, now)
            replicas = await asyncio.to_thread(self.services.replicas, self.name)
        await self._write_routes(service, policy, replicas)
        await self._write_status(service, replicas)

    async def _adopt(self, replicas: list[ReplicaRecord]) -> list[ReplicaRecord]:
        """Finish what a run of this service in a server that died left half done: a replica draining with no
        drain here is drained again (so its cluster goes), one launching with no launch here is removed (its
        launch was cut short; the autoscaler launches a fresh one). The replicas as they are then."""
        changed = False
        for replica in replicas:
            status = ReplicaStatus(replica.status)
            if status is ReplicaStatus.SHUTTING_DOWN and replica.replica_id not in self._drains:
                self._note(f"Replica {replica.replica_id}: its removal was cut short; removing it.")
                self._drains[replica.replica_id] = asyncio.get_running_loop().create_task(self._finish_drain(replica, time.time()))
            elif status in (ReplicaStatus.PENDING, ReplicaStatus.PROVISIONING) and replica.replica_id not in self._launches:
                self._note(f"Replica {replica.replica_id}: its launch was cut short (the server stopped); removing what it made.")
                await self._end(replica, ReplicaStatus.FAILED_PROVISION, "its launch was cut short by a server restart")
                changed = True
        return await asyncio.to_thread(self.services.replicas, self.name) if changed else replicas

    def _state(self, service: ServiceRecord, policy: Policy, replicas: list[ReplicaRecord]) -> State:
        """The autoscaler's state: carried between ticks, rebuilt from the row after a restart."""
        if self.state is None:
            target = service.target if service.target is not None else policy.min_replicas
            ready = any(r.version == service.version and r.status == ReplicaStatus.READY.value for r in replicas)
            self.state = State(target=target, latest_version=service.version, update_mode=service.update_mode,
                               ever_ready_version=service.version if ready else service.version - 1)
        return self.state

    async def _decide(self, service: ServiceRecord, policy: Policy, replicas: list[ReplicaRecord], stats: lb_process.Stats, now: float) -> None:
        assert self.state is not None
        counts = stats.requests + (((now, stats.waiting),) if stats.waiting else ())
        observation = Observation(now=now, replicas=tuple(_view(r) for r in replicas), active_versions=tuple(_active_versions(policy, replicas, self._mode(service))),
                                  request_counts=counts, window_s=self.settings.qps_window_s)
        if service.version > self.state.latest_version:
            self.state = autoscaler.updated(policy, observation, self.state, service.version, service.update_mode)
            self._note(f"Update to version {service.version} ({service.update_mode}).")
        decision = autoscaler.decide(policy, observation, self.state)
        self._decided_at = now
        if decision.state.target != self.state.target or service.target is None:
            if service.target is not None:
                self._note(f"Target {self.state.target} -> {decision.state.target} replica(s) at {observation.qps():.2f} requests/s.")
            await asyncio.to_thread(functools.partial(self.services.set, self.name, target=decision.state.target))
        self.state = decision.state
        for replica_id in decision.remove:
            replica = next((r for r in replicas if r.replica_id == replica_id), None)
            if replica is not None:
                await self._drain(replica, "scaled down" if replica.version == service.version else f"replaced by version {service.version}")
        if now < self._retry_at or not (decision.launch or decision.launch_ondemand):
            return
        missing = self.owner.missing_secrets(service)
        if missing:
            # The route hands the values over just after it wrote the row; a version whose values never come
            # (the server that received them restarted) launches nothing, and says why.
            first = self._secrets_wait.setdefault(service.version, now)
            if now - first > min(10.0, SECRETS_WAIT_PROBES * self.settings.probe_s):
                self._blocked = (f"the values of secret(s) {', '.join(missing)} were given to a server process that has since stopped; "
                                 f"`skyhop serve update {self.name} TASK.yaml` with them again")
            return
        self._blocked = None
        if await asyncio.to_thread(self._over_budget, service):
            return  # a reached budget: the current replicas keep serving, no new one is launched
        for use_spot in [None] * decision.launch + [False] * decision.launch_ondemand:
            await self._launch(service, use_spot)

    def _over_budget(self, service: ServiceRecord) -> bool:
        """Whether a budget of the service's owner is spent this month (issue 13): then nothing new is launched."""
        from skyhop.server.services import budgets

        found = budgets.over_budget(self.store, service.user, service.workspace)
        note = None if found is None else budgets.refusal_text(*found)
        if note is not None and note.split(":")[0] != (self._budget_note or "").split(":")[0]:
            self._note(f"Not launching replicas: {note}")
        self._budget_note = note
        return found is not None

    # --- the load balancer --------------------------------------------------------------

    async def _load_balancer(self, service: ServiceRecord) -> ServiceRecord:
        """Start the service's load balancer unless it runs; the service as it is then. The endpoint is
        published once the load balancer accepts connections, so a script that reads it can use it at once."""
        if lb_process.alive(service.lb_pid, self.name):
            if service.endpoint is None and service.lb_port is not None:
                return await self._publish(service, service.lb_pid, service.lb_port, 0.0)
            return service
        spec = _spec(self.owner.task_of(service))
        host = self.settings.lb_host
        port = service.lb_port
        if service.lb_pid is not None:
            why = await asyncio.to_thread(lb_process.ended, service.lb_pid, self.name)
            self._lb_error = why or "it exited"
            self._note(f"The load balancer (pid {service.lb_pid}) is gone ({self._lb_error}); starting it again.")
            if service.endpoint is None:
                port = None  # it never served on this port: perhaps something else has it now; take another
        if port is None:
            port = await asyncio.to_thread(lb_process.free_port, host)
        tls = (spec.tls_keyfile, spec.tls_certfile) if spec.tls_keyfile and spec.tls_certfile else None
        pid = await asyncio.to_thread(lb_process.start, self.name, host, port, spec.load_balancing_policy, tls)
        self._routes = None  # a new process has no routes yet
        self._note(f"Load balancer started (pid {pid}) on port {port}.")
        await asyncio.to_thread(functools.partial(self.services.set, self.name, lb_pid=pid, lb_port=port, endpoint=None))
        return await self._publish(replace(service, lb_pid=pid, lb_port=port, endpoint=None), pid, port, LB_START_S)

    async def _publish(self, service: ServiceRecord, pid: int | None, port: int, wait_s: float) -> ServiceRecord:
        """Write the endpoint once the load balancer on `port` accepts connections (waiting up to `wait_s`)."""
        host = self.settings.lb_host
        if not await asyncio.to_thread(lb_process.accepting, host, port, wait_s):
            return service
        spec = _spec(self.owner.task_of(service))
        endpoint = f"{'https' if spec.tls_keyfile else 'http'}://{_reachable(host)}:{port}"
        self._note(f"Load balancer (pid {pid}) serves {endpoint}.")
        self._lb_error = None
        await asyncio.to_thread(functools.partial(self.services.set, self.name, endpoint=endpoint))
        return replace(service, endpoint=endpoint)

    def _mode(self, service: ServiceRecord) -> str:
        return self.state.update_mode if self.state is not None else service.update_mode

    async def _write_routes(self, service: ServiceRecord, policy: Policy, replicas: list[ReplicaRecord]) -> None:
        active = set(_active_versions(policy, replicas, self._mode(service)))
        routes = [
            lb_process.RouteEntry(r.replica_id, r.url, r.accelerator) for r in replicas
            if r.status == ReplicaStatus.READY.value and r.url and (not active or r.version in active)
        ]
        # No replica is coming to a FAILED service (or one that cannot launch): its endpoint says so at once.
        hold = self._blocked is None and _replica_status(replicas) is not ServiceStatus.FAILED
        if (routes, hold) != self._routes:
            await asyncio.to_thread(functools.partial(lb_process.write_routes, self.name, routes, policy.target_qps, hold=hold))
            self._routes = (routes, hold)

    async def _write_status(self, service: ServiceRecord, replicas: list[ReplicaRecord]) -> None:
        status = _replica_status(replicas)
        reason: str | None
        if self._blocked is not None:
            status, reason = ServiceStatus.CONTROLLER_FAILED, self._blocked
        elif service.endpoint is None:  # READY means the endpoint answers: not before the load balancer does
            status = ServiceStatus.CONTROLLER_INIT
            reason = f"the load balancer failed: {self._lb_error}" if self._lb_error else "the load balancer is starting"
        elif status is ServiceStatus.FAILED:
            reason = next((r.status_reason for r in reversed(replicas) if r.status_reason and ReplicaStatus(r.status) in _KEPT_FAILURES), None)
        elif status is ServiceStatus.NO_REPLICA:
            reason = "scaled to zero: the first request starts a replica" if (self.state and self.state.target == 0) else None
        else:
            reason = None
        if (status.value, reason) != (service.status, service.status_reason):
            await asyncio.to_thread(functools.partial(self.services.set, self.name, status=status.value, status_reason=reason))
            self._note(f"Service status: {status.value}" + (f" ({reason})." if reason else "."))

    # --- probing ------------------------------------------------------------------------

    async def _probe_all(self, service: ServiceRecord, replicas: list[ReplicaRecord]) -> list[ReplicaRecord]:
        probed = [r for r in replicas if ReplicaStatus(r.status) in _PROBED and r.url and r.replica_id not in self._launches]
        if not probed:
            return replicas
        spec = _spec(self.owner.task_of(service))
        results = await asyncio.gather(*(self.owner.checking(functools.partial(_probe, spec, r)) for r in probed))
        changed = False
        for replica, result in zip(probed, results):
            changed |= await self._after_probe(spec, replica, result)
        return await asyncio.to_thread(self.services.replicas, self.name) if changed else replicas

    async def _after_probe(self, spec, replica: ReplicaRecord, result) -> bool:
        """Move the replica on after its probe; whether its row changed."""
        now = time.time()
        rid = replica.replica_id
        status = ReplicaStatus(replica.status)
        if result.ready:
            self._failing_since.pop(rid, None)
            self._starting_since.pop(rid, None)
            if status is ReplicaStatus.READY:
                return False
            self._note(f"Replica {rid} is READY ({replica.url}).")
            if self._spot is not None:
                self._spot.ready(rid)
            await self._set_replica(rid, status=ReplicaStatus.READY.value, status_reason=None, ready_at=replica.ready_at or now)
            return True
        ended = await self.owner.checking(functools.partial(_why_down, self.store, replica.cluster))
        if ended is not None:
            gone, why = ended
            if gone:
                self._note(f"Replica {rid} was preempted or lost ({why}); replacing it.")
                if self._spot is not None:
                    self._spot.preempted(rid)
                await self._end(replica, ReplicaStatus.PREEMPTED, why)
            else:
                self._note(f"Replica {rid}: its program ended ({why}).")
                await self._end(replica, ReplicaStatus.FAILED, why)
            return True
        if status is ReplicaStatus.STARTING:
            since = self._starting_since.setdefault(rid, replica.launched_at)
            if now - since > spec.initial_delay_seconds:
                why = f"not ready within initial_delay_seconds ({spec.initial_delay_seconds:g} s): last probe {result.detail}{_port_hint(replica, result.detail)}"
                self._note(f"Replica {rid}: {why}.")
                await self._end(replica, ReplicaStatus.FAILED_INITIAL_DELAY, why)
                return True
            return False
        since = self._failing_since.setdefault(rid, now)
        if now - since > self.settings.probe_failure_s:
            why = f"failed its readiness probe for {now - since:.0f} s ({result.detail})"
            self._note(f"Replica {rid}: {why}; replacing it.")
            await self._end(replica, ReplicaStatus.FAILED_PROBING, why)
            return True
        if status is ReplicaStatus.READY:
            self._note(f"Replica {rid} is NOT_READY: {result.detail}.")
            await self._set_replica(rid, status=ReplicaStatus.NOT_READY.value, status_reason=result.detail)
            return True
        return False

    async def _end(self, replica: ReplicaRecord, status: ReplicaStatus, why: str) -> None:
        """A replica that serves no more: its cluster goes; its row stays only if its program failed (see the module doc)."""
        rid = replica.replica_id
        await self._set_replica(rid, status=status.value, status_reason=why)
        self._failing_since.pop(rid, None)
        self._starting_since.pop(rid, None)
        if status in _KEPT_FAILURES:  # the program's own words on why it failed go with its cluster otherwise
            await self.owner.checking(functools.partial(_save_output, self.store, replica))
        await self.owner.checking(functools.partial(cluster_ops.teardown, self.store, replica.cluster))
        if status not in _KEPT_FAILURES:
            await asyncio.to_thread(self.services.remove_replica, self.name, rid)
            return
        kept = [r for r in await asyncio.to_thread(self.services.replicas, self.name) if ReplicaStatus(r.status) in _KEPT_FAILURES]
        for old in kept[:-KEEP_FAILED]:
            await asyncio.to_thread(self.services.remove_replica, self.name, old.replica_id)

    # --- launching and draining ------------------------------------------------------------

    async def _launch(self, service: ServiceRecord, use_spot: bool | None) -> None:
        spot = bool(_spec_task(self.owner.task_of(service)).resources.use_spot) if use_spot is None else use_spot
        placement = await self._placement(service) if use_spot is None and spot else None
        replica = await asyncio.to_thread(self.services.add_replica, self.name, service.version, spot, ReplicaStatus.PENDING.value)
        market = "" if use_spot is None else " (on-demand fallback)"
        self._note(f"Replica {replica.replica_id}: launching '{replica.cluster}' (version {service.version}){market}.")
        pin = None
        if placement is not None:
            pin, why = placement.choose(replica.replica_id, await asyncio.to_thread(self.services.replicas, self.name))
            self._note(f"Replica {replica.replica_id}: {why}.")
        self._launches[replica.replica_id] = asyncio.get_running_loop().create_task(self._start(service, replica, use_spot, pin))

    async def _placement(self, service: ServiceRecord) -> spot_zones.SpotPlacement | None:
        """SpotHedge's placement for the service's current version, built on its first spot launch (None: the
        optimizer places spot replicas). Planning the zones may fail (a config error): the launch then goes unpinned."""
        if self._spot is not None and self._spot.version == service.version:
            return self._spot
        task = _spec_task(self.owner.task_of(service))
        if not spot_zones.uses_placer(task):
            return None
        replicas = await asyncio.to_thread(self.services.replicas, self.name)
        try:
            self._spot = await self.owner.checking(functools.partial(spot_zones.placement, task, service.version, replicas, self.store))
        except SkyhopError as error:
            self._note(f"The spot placer cannot list the zones of the task's spot resources ({error}); the optimizer places this replica.")
            return None
        if self._spot is not None:
            self._note(f"Spot placer (dynamic_fallback) over {len(self._spot.pins)} zone(s), cheapest first: {', '.join(self._spot.pins)}.")
        return self._spot

    async def _start(self, service: ServiceRecord, replica: ReplicaRecord, use_spot: bool | None, pin: Infra | None = None) -> None:
        rid = replica.replica_id
        try:
            await self._set_replica(rid, status=ReplicaStatus.PROVISIONING.value)
            started = await self.owner.launching(functools.partial(self._bring_up, service, replica, use_spot, pin))
            self._starting_since[rid] = time.time()
            await self._set_replica(rid, status=ReplicaStatus.STARTING.value, **started)
            self._note(f"Replica {rid}: running on {started['url']}; waiting for its readiness probe.")
        except Exception as error:  # noqa: BLE001 - a failed replica is replaced, it must not stop the service
            if self.ctx.cancelled.is_set():
                return
            if not isinstance(error, SkyhopError):
                log.exception("service %s: launching replica %d failed unexpectedly", self.name, rid)
            zone = self._spot.preempted(rid) if self._spot is not None and spot_zones.out_of_capacity(error) else None
            if zone is not None and self._spot is not None and zone in self._spot.placer.preempting:
                # The placer moved the zone out of its choices: the next launch goes to another zone, so no pause.
                self._note(f"Replica {rid}: launch failed ({error}); no spot capacity in zone {zone}, which the placer now avoids.")
            else:
                self._note(f"Replica {rid}: launch failed ({error}); launching again in {RETRY_S:g} s.")
                self._retry_at = time.time() + RETRY_S
            await self._set_replica(rid, status=ReplicaStatus.FAILED_PROVISION.value, status_reason=str(error)[:500])
            await self.owner.checking(functools.partial(cluster_ops.teardown, self.store, replica.cluster))
            await asyncio.to_thread(self.services.remove_replica, self.name, rid)
        finally:
            if self._launches.get(rid) is asyncio.current_task():
                del self._launches[rid]

    def _bring_up(self, service: ServiceRecord, replica: ReplicaRecord, use_spot: bool | None, pin: Infra | None = None) -> dict[str, Any]:
        """Launch the replica's cluster with the task's setup, then its `run` as a job; where it answers.
        `pin`: the zone (an `Infra`) the spot placer chose, which overrides the task's own infra."""
        from skyhop.execution import handles
        from skyhop.execution import launch as launching
        from skyhop.execution.progress import Progress
        from skyhop.providers import registry
        from skyhop.providers.base import capabilities_of

        task = _spec_task(self.owner.task_of(service))
        if use_spot is not None:
            task = replace(task, resources=task.resources.with_overrides(use_spot=use_spot))
        if pin is not None:
            task = replace(task, resources=task.resources.with_overrides(infra=pin))
        log_path = files.launch_log(self.name, replica.replica_id)
        if cluster_ops.remove_interrupted_launch(self.store, replica.cluster):
            self._note(f"Replica {replica.replica_id}: removing what an interrupted launch left, then launching again.")
        progress = Progress(log_path)
        progress.cancel_event = self.ctx.cancelled
        try:
            launching.launch(replace(task, run=None, service=None), launching.LaunchOptions(cluster_name=replica.cluster, owner=service.user or "unknown", workspace=service.workspace), progress, self.store)
            record = self.store.get_cluster(replica.cluster)
            if record is None:
                raise SkyhopError(f"Cluster '{replica.cluster}' vanished right after its launch.")
            head = handles.cluster_info(record).head
            spec = task.service
            assert spec is not None
            asked = spec.port or _first_port(task)
            port = asked or DEFAULT_PORT
            if capabilities_of(registry.get(record.provider)).shared_network:
                port = self._shared_port(head.ip, asked)
            envs = dict(task.envs, SKYPILOT_SERVE_REPLICA_ID=str(replica.replica_id), SKYHOP_SERVE_PORT=str(port))
            launching.exec_task(replace(task, envs=envs, service=None), replica.cluster, True, progress, self.store)
        finally:
            progress.close()
        accelerators = (record.resources or {}).get("accelerators") or {}
        return {"url": f"http://{_url_host(head.ip)}:{port}", "port": port, "zone": record.zone, "accelerator": next(iter(accelerators), None)}

    def _shared_port(self, host: str, asked: int | None) -> int:
        """A port for a replica on a machine every replica shares: the port the task asks for while nothing has
        it (a program that hard-codes it, as SkyPilot's examples do, then serves as one replica), else a free
        one of its own. Chosen under a lock, against the ports already handed out, so two replicas launching
        at once never get the same one."""
        with _PORTS_LOCK:
            now = time.monotonic()
            for old in [p for p, until in _HANDED_OUT.items() if until <= now]:
                del _HANDED_OUT[old]
            taken = {r.port for r in self.services.replicas() if r.port and not is_terminal(ReplicaStatus(r.status))} | set(_HANDED_OUT)
            port = asked if asked and asked not in taken and lb_process.port_free(host, asked) else lb_process.free_port(host)
            _HANDED_OUT[port] = now + HANDED_OUT_S
            return port

    async def _drain(self, replica: ReplicaRecord, why: str) -> None:
        """Out of the routes now; torn down once its in-flight requests are done (in the background)."""
        rid = replica.replica_id
        if rid in self._drains:
            return
        launch = self._launches.pop(rid, None)
        if launch is not None:
            launch.cancel()
        await self._set_replica(rid, status=ReplicaStatus.SHUTTING_DOWN.value, status_reason=why)
        self._note(f"Replica {rid}: {why}; draining, then removing it.")
        self._drains[rid] = asyncio.get_running_loop().create_task(self._finish_drain(replica, time.time()))

    async def _finish_drain(self, replica: ReplicaRecord, since: float) -> None:
        rid = replica.replica_id
        try:
            deadline = since + self.settings.drain_s
            while time.time() < deadline:
                stats = await asyncio.to_thread(lb_process.read_stats, self.name)
                # The load balancer must have reported after the routes left it out, with nothing of it in flight.
                if stats.time > since + 0.5 and stats.in_flight_of(rid) == 0:
                    break
                await asyncio.sleep(0.2)
            await self.owner.checking(functools.partial(cluster_ops.teardown, self.store, replica.cluster))
            await asyncio.to_thread(self.services.remove_replica, self.name, rid)
            self._note(f"Replica {rid} removed.")
        finally:
            if self._drains.get(rid) is asyncio.current_task():
                del self._drains[rid]

    # --- down -------------------------------------------------------------------------------

    async def _down(self, service: ServiceRecord) -> None:
        """Stop the load balancer, cut launches short, remove every replica, then the service itself."""
        self.ctx.cancelled.set()
        await asyncio.to_thread(self.services.mark_down, self.name)
        self._note("Service down: stopping the load balancer.")
        await self.owner.checking(functools.partial(lb_process.stop, service.lb_pid, self.name, self.settings.drain_s))
        for task in self._drains.values():
            task.cancel()
        await asyncio.gather(*self._launches.values(), *self._drains.values(), return_exceptions=True)
        failed = []
        for replica in await asyncio.to_thread(self.services.replicas, self.name):
            self._note(f"Service down: tearing down replica {replica.replica_id} ('{replica.cluster}').")
            try:
                await self.owner.checking(functools.partial(cluster_ops.teardown, self.store, replica.cluster))
            except Exception as error:  # noqa: BLE001 - recorded for `serve down --purge`, never silently dropped
                log.exception("service %s: tearing down replica %d failed", self.name, replica.replica_id)
                failed.append(f"replica {replica.replica_id} ('{replica.cluster}'): {error}")
        if failed:
            # Kept, so what may still be billed stays listed: `serve down --purge` removes it once the cause is fixed.
            why = "tearing down failed for " + "; ".join(failed)
            self._note(f"Service down: {why}. `skyhop serve down --purge {self.name}` tries again and forgets what it cannot remove.")
            await asyncio.to_thread(self.services.fail_cleanup, self.name, why[:2000])
            return
        self._note("Service down: every replica is gone.")
        await asyncio.to_thread(files.remove, self.name)
        await asyncio.to_thread(self.services.delete, self.name)

    async def _set_replica(self, replica_id: int, **values: Any) -> None:
        await asyncio.to_thread(functools.partial(self.services.set_replica, self.name, replica_id, **values))

    def _note(self, text: str) -> None:
        log.info("service %s: %s", self.name, text)
        try:
            with files.controller_log(self.name).open("a", encoding="utf-8") as f:
                f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")
        except OSError:
            log.warning("service %s: cannot write the controller log", self.name)


def _spec_task(task: dict[str, Any]):
    from skyhop.spec.task import Task

    return Task.from_dict(task)


def _spec(task: dict[str, Any]):
    spec = _spec_task(task).service
    if spec is None:
        raise SkyhopError("the service's task has no service section")
    return spec


def _first_port(task) -> int | None:
    for port in task.resources.ports:
        return int(str(port).partition("-")[0])
    return None


def _view(replica: ReplicaRecord) -> ReplicaView:
    return ReplicaView(replica.replica_id, replica.version, ReplicaStatus(replica.status), replica.use_spot, replica.accelerator)


def _active_versions(policy: Policy, replicas: list[ReplicaRecord], mode: str) -> list[int]:
    """The versions the load balancer routes to; empty: every READY replica (a rolling update serves old and new
    side by side). In a blue-green update traffic stays on the old version until the newest version with enough
    READY replicas (min_replicas, and at least one) takes all of it (SkyServe's `active_versions`)."""
    if mode != "blue_green":
        return []
    ready: dict[int, int] = {}
    for r in replicas:
        if r.status == ReplicaStatus.READY.value:
            ready[r.version] = ready.get(r.version, 0) + 1
    enough = [v for v, n in ready.items() if n >= max(1, policy.min_replicas)]
    return [max(enough)] if enough else []


def _replica_status(replicas: list[ReplicaRecord]) -> ServiceStatus:
    """The service's status as its replicas make it. Replicas on their way out (draining, or failed in a way
    that is replaced: a preemption, a launch that found no capacity) do not make it FAILED for the moment
    their row remains."""
    counted = [ReplicaStatus(r.status) for r in replicas]
    return service_status([s for s in counted if not is_terminal(s) or s in _KEPT_FAILURES])


def _port_hint(replica: ReplicaRecord, detail: str) -> str:
    """What a refused probe most often means: the program listens on a port of its own choosing (SkyPilot's examples
    hard-code theirs), not the one the replica was given."""
    if detail != "connection refused" or not replica.url:
        return ""
    return f" (does the program listen on $SKYHOP_SERVE_PORT, here {urlsplit(replica.url).port}?)"


def _probe(spec, replica: ReplicaRecord):
    from skyhop.serve.probe import probe

    assert replica.url is not None
    return probe(replica.url, spec.readiness_path, post_data=spec.post_data, headers=spec.readiness_headers, timeout=spec.readiness_timeout_seconds)


def _why_down(store, cluster: str) -> tuple[bool, str] | None:
    """Why a replica that failed its probe cannot come back: (True, why) for a lost cluster, (False, why) for a
    run that ended; None while both look fine (the program may be starting or busy)."""
    from skyhop.execution import handles
    from skyhop.state.records import JOB_FINISHED

    lost = cluster_ops.why_lost(store, cluster)
    if lost is not None:
        return True, lost
    record = store.get_cluster(cluster)
    if record is None:
        return True, "the cluster is gone"
    try:
        jobs = handles.agent_of(handles.cluster_info(record)).jobs()
    except SkyhopError:
        return None
    if not jobs:
        return None
    last = max(jobs, key=lambda j: int(j["job_id"]))
    if last["status"] in JOB_FINISHED:
        code = last.get("exit_code")
        return False, last.get("failure_reason") or f"the run ended {last['status']}" + (f" (exit code {code})" if code is not None else "")
    return None


#: The most of a failed replica's output kept (its end: where the error is).
SAVED_OUTPUT_BYTES = 1 << 20


def _save_output(store, replica: ReplicaRecord) -> None:
    """Copy the end of the replica's latest job output into the service folder (best effort: a cluster that
    cannot be read any more leaves a line saying so)."""
    from skyhop.execution import lifecycle

    path = files.saved_output(replica.service, replica.replica_id)
    try:
        _, stream = lifecycle.log_stream(store, replica.cluster, None, follow=False, tail=None)
        try:
            kept = bytearray()
            while chunk := stream.read1(1 << 16):
                kept += chunk
                if len(kept) > 2 * SAVED_OUTPUT_BYTES:  # trimmed now and then, not at every chunk
                    del kept[:-SAVED_OUTPUT_BYTES]
        finally:
            stream.close()
        saved = bytes(kept[-SAVED_OUTPUT_BYTES:])
    except (SkyhopError, OSError) as error:
        saved = f"[skyhop] the output of replica {replica.replica_id} could not be saved: {error}\n".encode()
    files.write_atomically(path, saved)


def _reachable(host: str) -> str:
    """The address clients use for a load balancer bound to `host` (a wildcard address means this machine's name)."""
    if host in ("0.0.0.0", "::"):
        return socket.gethostname()
    return _url_host(host)


def _url_host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip
