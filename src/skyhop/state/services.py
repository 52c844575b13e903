"""Services and their replicas in the state store (tables of revision 0008).

A service row is created together with its controller lease (kind `service`), as a
pool is, so a service always has a controller. Replica ids come from the service
row's `next_replica_id`, taken in the same transaction that writes the replica, so
two controllers (one whose lease lapsed) never hand out one id twice and an id is
never reused in the service's life: the load balancer's ledger and the logs key on
it. A replica's cluster is named `<service>-<id>`, skipping a name some other
cluster already has (the launch path would otherwise reuse that cluster).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update

from skyhop.state.errors import StateError
from skyhop.state.models import Cluster, ControllerLease, Service, ServiceReplica
from skyhop.state.store import StateStore, _record

#: The controller kind of services (controller_leases.kind).
KIND = "service"
#: The service status the API writes on `serve down`; the controller writes every other.
SHUTTING_DOWN = "SHUTTING_DOWN"
CONTROLLER_INIT = "CONTROLLER_INIT"
FAILED_CLEANUP = "FAILED_CLEANUP"
#: Settable fields of a service row (the controller's bookkeeping).
_SERVICE_FIELDS = frozenset({"status", "status_reason", "target", "lb_pid", "lb_port", "endpoint"})
_REPLICA_FIELDS = frozenset({"status", "status_reason", "zone", "accelerator", "port", "url", "ready_at"})


@dataclass(frozen=True, slots=True)
class ServiceRecord:
    name: str
    user: str | None
    task: dict[str, Any]
    version: int
    update_mode: str
    status: str
    status_reason: str | None
    target: int | None
    lb_pid: int | None
    lb_port: int | None
    endpoint: str | None
    next_replica_id: int
    created_at: float
    updated_at: float
    workspace: str | None = None


@dataclass(frozen=True, slots=True)
class ReplicaRecord:
    service: str
    replica_id: int
    cluster: str
    version: int
    status: str
    status_reason: str | None
    use_spot: bool
    zone: str | None
    accelerator: str | None
    port: int | None
    url: str | None
    launched_at: float
    ready_at: float | None
    updated_at: float


class Services:
    """Reads and writes of services and their replicas (see the module doc)."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    def create(self, name: str, task: dict[str, Any], user: str | None, workspace: str | None = None) -> ServiceRecord:
        """A new service (version 1) with its controller lease; StateError if the name is taken."""
        now = time.time()
        with self._store._write() as session:
            if session.get(Service, name) is not None:
                raise StateError(f"Service {name!r} already exists; change it with `skyhop serve update {name} TASK.yaml`, or pick another name.")
            row = Service(
                name=name, user=user, workspace=workspace, task=task, version=1, update_mode="rolling", status=CONTROLLER_INIT, status_reason=None,
                target=None, lb_pid=None, lb_port=None, endpoint=None, next_replica_id=1, created_at=now, updated_at=now,
            )
            session.add(row)
            lease = session.get(ControllerLease, (KIND, name))
            if lease is None:
                session.add(ControllerLease(kind=KIND, object_id=name, owner=None, cancel_requested=False, claimed_at=None))
            else:  # left by a service of this name whose controller ended without removing it
                lease.owner, lease.cancel_requested, lease.claimed_at = None, False, None
            session.flush()
            return _record(row, ServiceRecord)

    def update(self, name: str, task: dict[str, Any], mode: str) -> ServiceRecord:
        """`serve update`: the new task becomes the next version, reached by `mode` (rolling or blue_green)."""
        with self._store._write() as session:
            row = session.scalars(select(Service).where(Service.name == name).with_for_update()).one_or_none()
            if row is None:
                raise StateError(f"No service {name!r}; `skyhop serve status` lists them.")
            if row.status == SHUTTING_DOWN:
                raise StateError(f"Service {name!r} is being taken down; update it once `skyhop serve status` no longer lists it.")
            row.task, row.version, row.update_mode, row.updated_at = task, row.version + 1, mode, time.time()
            session.flush()
            return _record(row, ServiceRecord)

    def get(self, name: str) -> ServiceRecord | None:
        with self._store._read() as session:
            row = session.get(Service, name)
            return None if row is None else _record(row, ServiceRecord)

    def all(self) -> list[ServiceRecord]:
        with self._store._read() as session:
            return [_record(r, ServiceRecord) for r in session.scalars(select(Service).order_by(Service.name))]

    def mark_down(self, name: str) -> bool:
        """Ask for the service to be taken down (its controller does it); False if there is no such service."""
        with self._store._write() as session:
            changed = session.execute(update(Service).where(Service.name == name).values(status=SHUTTING_DOWN, updated_at=time.time()))
        return bool(getattr(changed, "rowcount", 0))

    def set(self, name: str, **values: Any) -> None:
        """The controller's bookkeeping; a status never overwrites SHUTTING_DOWN (a `serve down` asked meanwhile)."""
        unknown = set(values) - _SERVICE_FIELDS
        if unknown:
            raise ValueError(f"not service fields: {sorted(unknown)}")
        status = {k: values.pop(k) for k in ("status", "status_reason") if k in values}
        now = time.time()
        with self._store._write() as session:
            if values:
                session.execute(update(Service).where(Service.name == name).values(updated_at=now, **values))
            if status:
                session.execute(update(Service).where(Service.name == name, Service.status != SHUTTING_DOWN).values(updated_at=now, **status))

    def fail_cleanup(self, name: str, why: str) -> None:
        """`serve down` could not remove everything: FAILED_CLEANUP (overriding SHUTTING_DOWN), left for `--purge`."""
        with self._store._write() as session:
            session.execute(update(Service).where(Service.name == name).values(status=FAILED_CLEANUP, status_reason=why, updated_at=time.time()))

    def delete(self, name: str) -> None:
        """The service and its replica rows (once its clusters and load balancer are gone)."""
        with self._store._write() as session:
            session.execute(delete(ServiceReplica).where(ServiceReplica.service == name))
            session.execute(delete(Service).where(Service.name == name))

    # --- replicas -------------------------------------------------------------------

    def add_replica(self, name: str, version: int, use_spot: bool, status: str) -> ReplicaRecord:
        """A new replica row with the next id and a cluster name no other cluster has."""
        now = time.time()
        with self._store._write() as session:
            service = session.scalars(select(Service).where(Service.name == name).with_for_update()).one_or_none()
            if service is None:
                raise StateError(f"No service {name!r}.")
            replica_id = service.next_replica_id
            cluster = f"{name}-{replica_id}"
            while session.get(Cluster, cluster) is not None:
                replica_id += 1
                cluster = f"{name}-{replica_id}"
            service.next_replica_id = replica_id + 1
            row = ServiceReplica(
                service=name, replica_id=replica_id, cluster=cluster, version=version, status=status, status_reason=None,
                use_spot=use_spot, zone=None, accelerator=None, port=None, url=None, launched_at=now, ready_at=None, updated_at=now,
            )
            session.add(row)
            session.flush()
            return _record(row, ReplicaRecord)

    def replicas(self, name: str | None = None) -> list[ReplicaRecord]:
        """Replicas of `name` (of every service when None), by service and id."""
        query = select(ServiceReplica).order_by(ServiceReplica.service, ServiceReplica.replica_id)
        if name is not None:
            query = query.where(ServiceReplica.service == name)
        with self._store._read() as session:
            return [_record(r, ReplicaRecord) for r in session.scalars(query)]

    def set_replica(self, name: str, replica_id: int, **values: Any) -> None:
        unknown = set(values) - _REPLICA_FIELDS
        if unknown:
            raise ValueError(f"not replica fields: {sorted(unknown)}")
        with self._store._write() as session:
            session.execute(
                update(ServiceReplica)
                .where(ServiceReplica.service == name, ServiceReplica.replica_id == replica_id)
                .values(updated_at=time.time(), **values)
            )

    def remove_replica(self, name: str, replica_id: int) -> None:
        with self._store._write() as session:
            session.execute(delete(ServiceReplica).where(ServiceReplica.service == name, ServiceReplica.replica_id == replica_id))
