"""Cluster lifecycle: refresh (reconcile with the infra), stop, start, down, autostop.

The state store is the broker's memory, the provider and the agent are the
truth: `refresh` brings the former in line with the latter, which is how a
cluster that stopped itself (autostop) or a launch cut short by a crash ends
up with the right status.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from skyhop.errors import NotFoundError, SkyhopError
from skyhop.execution import channel, handles, jobs
from skyhop.execution.agent import AgentError
from skyhop.execution.locks import cluster_lock, is_busy
from skyhop.providers import base
from skyhop.providers.base import ClusterInfo
from skyhop.state.records import JOB_FINISHED

log = logging.getLogger("skyhop.execution")


def refresh(store, record, *, have_lock: bool, deep: bool = False):
    """The record after asking the infra; None when the cluster no longer exists.

    Without the cluster's lock, a cluster with an operation in flight is left
    alone: its INIT means "launching", not "crashed". `deep` also checks that
    an UP cluster's agent daemon is alive (one agent call per cluster).
    """
    if not have_lock and is_busy(record.name):
        return record
    provider = handles.provider_of(record)
    info = handles.handle_or_find(record, provider)
    if info is None:
        store.remove_cluster(record.name)  # nothing was ever created
        return None
    changed = not record.handle
    if changed:
        store.update_cluster(record.name, handle=info.to_json())
    state, reason = observe(provider, info)
    if state == base.TERMINATED:
        provider.terminate(info)  # idempotent; ends processes whose directory was removed under them
        store.remove_cluster(record.name)
        return None
    if state == base.PARTIAL:
        reason = reason or "some of its nodes are gone"
        if record.status != "INIT" or record.status_reason != reason:
            store.set_cluster_status(record.name, "INIT", reason=reason)
        return store.get_cluster(record.name)
    if state == base.STOPPED and record.status != "STOPPED":
        # It stopped itself (autostop): let the provider finish the job (release hosts, end stragglers).
        provider.stop(info)
        store.set_cluster_status(record.name, "STOPPED", reason="stopped by autostop" if record.status == "UP" else None)
        changed = True
    elif state == base.RUNNING and record.status != "UP":
        if not _agent_alive(info):  # machines there, agent not (yet): not usable, stays as it was
            return store.get_cluster(record.name)
        store.set_cluster_status(record.name, "UP", hourly_price=record.hourly_price)
        changed = True
    elif state == base.RUNNING and deep and not _agent_alive(info):
        # Machines up but the agent's daemon gone (a reboot, a kill): without it
        # neither the queue nor autostop runs. Start it again.
        handles.agent_of(info).call("daemon-start")
    # Nothing written: the record the caller just read is still the answer (the managed-jobs controller
    # refreshes every running job's cluster each poll; a second read was a third of a poll's CPU).
    return store.get_cluster(record.name) if changed else record


def observe(provider, info: ClusterInfo) -> tuple[str, str | None]:
    """The provider's `query` as `(state, reason)`; providers may answer with a bare state."""
    observed = provider.query(info)
    if isinstance(observed, str):
        return observed, None
    return observed.state, observed.reason


def _agent_alive(info: ClusterInfo) -> bool:
    try:
        return bool(handles.agent_of(info).health().get("daemon_alive"))
    except SkyhopError:
        return False


def refreshed(store, name: str, *, have_lock: bool = True):
    record = store.get_cluster(name)
    return refresh(store, record, have_lock=have_lock) if record is not None else None


def missing(name: str) -> NotFoundError:
    """What an unknown cluster (or another user's, which a caller may not know of) answers."""
    return NotFoundError(f"Cluster '{name}' does not exist. See `skyhop status` for your clusters.")


def require(store, name: str, *, have_lock: bool = True):
    record = refreshed(store, name, have_lock=have_lock)
    if record is None:
        raise missing(name)
    return record


def require_up(store, name: str, *, have_lock: bool = True):
    record = require(store, name, have_lock=have_lock)
    if record.status == "STOPPED":
        raise SkyhopError(f"Cluster '{name}' is stopped. Start it first: skyhop start {name}")
    if record.status != "UP":
        raise SkyhopError(_not_up(record))
    return record


def _not_up(record) -> str:
    """Why an INIT cluster cannot take work: lost nodes (with the provider's reason), or a launch cut short."""
    name = record.name
    if record.status_reason:
        return f"Cluster '{name}' is INIT: it lost nodes ({record.status_reason}) and takes no new jobs. Its job history and logs stay readable; `skyhop down {name}` removes it."
    return f"Cluster '{name}' is {record.status}: its launch did not finish. Run `skyhop down {name}` and launch again."


def lost_nodes(store, name: str) -> str | None:
    """The provider's account of the cluster's lost nodes (after a refresh), or None when none are lost.

    Waits for the cluster's lock: the operation that just broke the job (chaos,
    a `down`) may still hold it, and a refresh without it would see nothing.
    """
    try:
        with cluster_lock(name):
            record = refreshed(store, name)
    except SkyhopError:
        return None
    return record.status_reason if record is not None and record.status == "INIT" else None


def _readable(record) -> bool:
    """Up, or up except for lost nodes: the head may still answer for the job history and logs."""
    return record.status == "UP" or (record.status == "INIT" and bool(record.status_reason))


def status(store, names: list[str] | None = None, *, refresh_all: bool = False, owners: list[str] | None = None) -> list:
    """Clusters (of `owners` only, when given), reconciled with the infra (always for cheap local checks, for
    all with `refresh_all`)."""
    out = []
    cheap: dict[str, bool] = {}  # asked once per provider, not per cluster (a protocol check costs ~50 us)
    for record in store.list_clusters(owners=owners):
        if names and record.name not in names:
            continue
        if record.provider not in cheap:
            cheap[record.provider] = _cheap_to_query(record.provider)
        if refresh_all or cheap[record.provider]:
            try:
                record = refresh(store, record, have_lock=False, deep=refresh_all)
            except SkyhopError as error:  # one broken cluster must not hide the others
                log.warning("refreshing cluster %s failed: %s", record.name, error)
        if record is not None:
            out.append(record)
    return out


def _cheap_to_query(provider_name: str) -> bool:
    """Providers whose `query` reads local files only are reconciled on every `status`."""
    from skyhop.providers import registry

    try:
        return registry.capabilities(provider_name).cheap_query
    except SkyhopError:
        return False  # a provider that no longer loads: `status --refresh` and `down --purge` say so


def start_cluster(store, record) -> ClusterInfo:
    info = handles.cluster_info(record)
    provider = handles.provider_of(record)
    info = provider.start(info)
    resources = record.resources or {}
    try:
        handles.agent_of(info).install(handles.agent_config(info, resources, handles.owner_of(record)))
    except BaseException:
        provider.stop(info)  # back to a consistent STOPPED (for ssh pools: the hosts go back too)
        raise
    store.update_cluster(record.name, handle=info.to_json(), autostop_minutes=None, autostop_down=False)  # the agent starts without autostop
    store.set_cluster_status(record.name, "UP", hourly_price=record.hourly_price)
    return info


def start(store, name: str, *, force: bool = False) -> dict[str, Any]:
    """Start a stopped cluster; `force` (SkyPilot's `start --force`) re-installs an up cluster's agent."""
    with cluster_lock(name):
        record = require(store, name)
        if record.status == "UP" and not force:
            return {"cluster": name, "status": "UP", "message": f"Cluster '{name}' is already up."}
        if record.status == "UP":
            info = handles.cluster_info(record)
            agent = handles.agent_of(info)
            agent.install(handles.agent_config(info, record.resources or {}, handles.owner_of(record)))
            if record.autostop_minutes is not None:  # the re-installed agent starts without it: keep what was set
                agent.autostop(record.autostop_minutes, record.autostop_down)
            return {"cluster": name, "status": "UP", "message": f"Cluster '{name}' is up; its agent was re-installed (--force)."}
        start_cluster(store, record)
    return {"cluster": name, "status": "UP", "message": f"Cluster '{name}' is up."}


def stop(store, name: str, *, reason: str | None = None) -> dict[str, Any]:
    """`reason` is kept as the cluster's status_reason (e.g. the budget that stopped it)."""
    with cluster_lock(name):
        record = require(store, name)
        if record.status == "STOPPED":
            return {"cluster": name, "status": "STOPPED", "message": f"Cluster '{name}' is already stopped."}
        info = handles.cluster_info(record)
        provider = handles.provider_of(record)
        if not base.capabilities_of(provider).can_stop:
            raise SkyhopError(f"The {record.provider} provider cannot stop machines, only remove them: `skyhop down {name}`.")
        _stop_jobs(store, name, info)
        channel.drop(name)
        provider.stop(info)
        store.set_cluster_status(name, "STOPPED", reason=reason)
    return {"cluster": name, "status": "STOPPED", "message": f"Cluster '{name}' is stopped."}


def _stop_jobs(store, name: str, info: ClusterInfo) -> None:
    """End the cluster's jobs through the agent (recording them) before its machines go.

    Best effort with a short timeout: the provider ends whatever is left, and
    a broken agent must never keep a cluster (and its bill) alive.
    """
    try:
        agent = handles.agent_of(info)
        agent.stop_jobs(timeout=20)
        jobs.record_jobs(store, name, agent.jobs())
    except SkyhopError as error:
        log.info("stopping jobs on %s through the agent failed (%s); the provider ends what is left", name, error)


def teardown(store, name: str, *, purge: bool = False) -> bool:
    """Remove the cluster's machines and its record; False when there was nothing. Caller holds the lock.

    With `purge`, a provider that cannot be loaded (an uninstalled plugin) or
    fails to terminate does not keep the record: it is removed anyway.
    """
    record = store.get_cluster(name)
    if record is None:
        return False
    try:
        _terminate(store, record)
    except SkyhopError as error:
        if not purge:
            raise
        log.warning("purging %s although its provider failed: %s", name, error)
    channel.drop(name)
    store.remove_cluster(name, at=time.time())
    return True


def _terminate(store, record) -> None:
    name = record.name
    provider = handles.provider_of(record)
    info = handles.handle_or_find(record, provider)
    if info is not None:
        if observe(provider, info)[0] == base.RUNNING:
            _stop_jobs(store, name, info)
        provider.terminate(info)


def down(store, name: str, *, purge: bool = False) -> dict[str, Any]:
    with cluster_lock(name):
        removed = teardown(store, name, purge=purge)
    message = f"Cluster '{name}' is removed." if removed else f"Cluster '{name}' does not exist; nothing to do."
    return {"cluster": name, "removed": removed, "message": message}


def autostop(store, name: str, idle_minutes: float | None, down_after: bool) -> dict[str, Any]:
    with cluster_lock(name):
        record = require_up(store, name)
        handles.agent_of(handles.cluster_info(record)).autostop(idle_minutes, down_after)
        store.update_cluster(name, autostop_minutes=idle_minutes, autostop_down=down_after if idle_minutes is not None else False)
    if idle_minutes is None:
        return {"cluster": name, "message": f"Autostop cancelled for '{name}'."}
    action = "torn down" if down_after else "stopped"
    return {"cluster": name, "message": f"Cluster '{name}' will be {action} after {idle_minutes:g} idle minute(s)."}


def queue(store, name: str) -> list:
    record = require(store, name, have_lock=False)
    if _readable(record):
        try:
            _mirror(store, record, handles.agent_of(handles.cluster_info(record)).jobs())
        except AgentError:
            pass
        except SkyhopError:  # a lost head: what was recorded is what there is
            if record.status == "UP":
                raise
    return store.list_jobs(name)


def job(store, name: str, job_id: int):
    """One job's record, fresh from the agent when the cluster is up (else as last seen)."""
    record = require(store, name, have_lock=False)
    if _readable(record):
        try:
            _mirror(store, record, handles.agent_of(handles.cluster_info(record)).jobs([job_id]))
        except SkyhopError:
            if record.status == "UP":
                raise
    stored = store.get_job(name, job_id)
    if stored is None:
        raise NotFoundError(f"No job {job_id} on cluster '{name}'. See `skyhop queue {name}`.")
    return stored


def _mirror(store, record, listed: list[dict[str, Any]]) -> None:
    """Bring the broker's job rows in line with the agent's, except, after lost nodes, rows that already ended.

    Those carry what the agent cannot know (which node was lost, and why), and a
    lost head leaves its jobs RUNNING in its own table forever.
    """
    if record.status != "UP":
        ended = {job.job_id for job in store.list_jobs(record.name) if job.status in JOB_FINISHED}
        listed = [job for job in listed if int(job["job_id"]) not in ended]
    jobs.record_jobs(store, record.name, listed)


def _agent_of_up(store, name: str):
    return handles.agent_of(handles.cluster_info(require_up(store, name, have_lock=False)))


def _agent_for_reading(store, name: str):
    """(the head's agent, whether the cluster is whole) for reading logs: also after lost nodes (the head keeps every node's log)."""
    record = require(store, name, have_lock=False)
    if not _readable(record):
        _agent_of_up(store, name)  # raises the right message
    return handles.agent_of(handles.cluster_info(record)), record.status == "UP"


def _latest_job_id(agent, *, active: bool) -> int | None:
    listed = [j for j in agent.jobs() if not active or j["status"] not in JOB_FINISHED]
    return max((int(j["job_id"]) for j in listed), default=None)


def log_stream(store, name: str, job_id: int | None, *, follow: bool, tail: int | None, node: int | None = None):
    """(job id, the agent's stream of its log, or one node's); the latest job when none is named."""
    agent, whole = _agent_for_reading(store, name)
    follow = follow and whole  # after a lost node nothing progresses (a lost head leaves its jobs RUNNING forever)
    if job_id is None:
        job_id = _latest_job_id(agent, active=False)
        if job_id is None:
            raise SkyhopError(f"Cluster '{name}' has no jobs yet.")
    job = agent.jobs([job_id])[0]  # an unknown id fails here, with the agent's message, before streaming starts
    if node is not None and not 0 <= node < int(job.get("num_nodes") or 1):
        raise SkyhopError(f"Job {job_id} on '{name}' runs on nodes 0..{int(job.get('num_nodes') or 1) - 1}; there is no node {node}.")
    return job_id, agent.logs(job_id, follow=follow, tail=tail, node=node)


def cancel(store, name: str, job_ids: list[int], *, all_jobs: bool) -> dict[str, Any]:
    """Cancel jobs (the latest running or pending one when none is named)."""
    agent = _agent_of_up(store, name)
    if not job_ids and not all_jobs:
        latest = _latest_job_id(agent, active=True)
        if latest is None:
            return {"cancelled": [], "already_done": [], "message": f"No running or pending jobs on '{name}'."}
        job_ids = [latest]
    result = agent.cancel(job_ids, all_jobs=all_jobs)
    jobs.record_jobs(store, name, agent.jobs())
    return result
