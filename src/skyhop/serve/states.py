"""Service and replica states, named as SkyServe names them, and the rules read off them.

The names and groupings follow SkyPilot's `sky/serve/serve_state.py` (ReplicaStatus,
ServiceStatus) so that `skyhop serve status` reads the same as `sky serve status` and
scripts written against one work against the other. Everything here is pure: the
controller, the autoscaler and the simulator share it.
"""

from __future__ import annotations

import enum
from typing import Iterable, Protocol, Sequence


class ReplicaStatus(str, enum.Enum):
    """Where one replica is in its life."""

    PENDING = "PENDING"  # launch not started yet (throttled)
    PROVISIONING = "PROVISIONING"  # launch running
    STARTING = "STARTING"  # setup/run running, readiness probe not yet passed
    READY = "READY"  # probe passes: the load balancer routes to it
    NOT_READY = "NOT_READY"  # was ready, the probe now fails
    SHUTTING_DOWN = "SHUTTING_DOWN"  # being torn down (skyhop: also while draining)
    FAILED = "FAILED"  # the user's setup or run failed
    FAILED_INITIAL_DELAY = "FAILED_INITIAL_DELAY"  # never ready within initial_delay_seconds
    FAILED_PROBING = "FAILED_PROBING"  # was ready, then failed the probe for too long
    FAILED_PROVISION = "FAILED_PROVISION"  # launch failed after its retries
    FAILED_CLEANUP = "FAILED_CLEANUP"  # teardown failed: resources may have leaked
    PREEMPTED = "PREEMPTED"  # the spot instance was taken back
    UNKNOWN = "UNKNOWN"  # lost track of it


#: SkyServe's `ReplicaStatus.failed_statuses()`.
FAILED_STATUSES = frozenset({
    ReplicaStatus.FAILED, ReplicaStatus.FAILED_CLEANUP, ReplicaStatus.FAILED_INITIAL_DELAY,
    ReplicaStatus.FAILED_PROBING, ReplicaStatus.FAILED_PROVISION, ReplicaStatus.UNKNOWN,
})
#: SkyServe's `terminal_statuses()`: the replica serves no more and counts toward no target.
TERMINAL_STATUSES = FAILED_STATUSES | {ReplicaStatus.SHUTTING_DOWN, ReplicaStatus.PREEMPTED}
#: Alive = not terminal: launching, serving or about to serve; these count toward the target.
ALIVE_STATUSES = frozenset(ReplicaStatus) - TERMINAL_STATUSES
#: Failures that say the user's program is broken (not the cloud): with no replica of that
#: version ever READY, launching more would only crash-loop (SkyServe's `unrecoverable_failure`:
#: the user app failed, or the initial delay ran out).
UNRECOVERABLE_STATUSES = frozenset({ReplicaStatus.FAILED, ReplicaStatus.FAILED_INITIAL_DELAY})
#: SkyServe's `scale_down_decision_order()`: remove replicas still launching before serving ones,
#: since a replica that has not started yet costs least to give up.
SCALE_DOWN_ORDER: tuple[ReplicaStatus, ...] = (
    ReplicaStatus.PENDING, ReplicaStatus.PROVISIONING, ReplicaStatus.STARTING,
    ReplicaStatus.NOT_READY, ReplicaStatus.READY,
)


class ServiceStatus(str, enum.Enum):
    """Where a service is, as a whole."""

    CONTROLLER_INIT = "CONTROLLER_INIT"  # controller/load balancer starting
    REPLICA_INIT = "REPLICA_INIT"  # replicas launching, none ready yet
    CONTROLLER_FAILED = "CONTROLLER_FAILED"
    READY = "READY"  # at least one replica serves
    SHUTTING_DOWN = "SHUTTING_DOWN"
    FAILED = "FAILED"  # no replica ready and one failed
    FAILED_CLEANUP = "FAILED_CLEANUP"
    NO_REPLICA = "NO_REPLICA"  # scaled to zero (min_replicas 0, no traffic)


class Replica(Protocol):
    """What the ordering rules need of a replica (any record with these fields)."""

    @property
    def replica_id(self) -> int: ...
    @property
    def version(self) -> int: ...
    @property
    def status(self) -> ReplicaStatus: ...


def is_alive(status: ReplicaStatus) -> bool:
    return status in ALIVE_STATUSES


def is_terminal(status: ReplicaStatus) -> bool:
    return status in TERMINAL_STATUSES


def scale_down_key(replica: Replica) -> tuple[int, int, int]:
    """Sort key, first = removed first: earliest life stage, then oldest version, then the
    highest replica id (launched last, so furthest from ready; SkyServe's
    `_select_nonterminal_replicas_to_scale_down`)."""
    return (SCALE_DOWN_ORDER.index(replica.status), replica.version, -replica.replica_id)


def pick_to_remove(replicas: Iterable[Replica], count: int) -> list[int]:
    """The ids of `count` alive replicas to remove, in scale-down order (fewer if fewer are alive)."""
    alive = [r for r in replicas if is_alive(r.status)]
    return [r.replica_id for r in sorted(alive, key=scale_down_key)[:max(0, count)]]


def service_status(replica_statuses: Sequence[ReplicaStatus]) -> ServiceStatus:
    """The status of a running service (controller up) from its replicas' statuses:
    any READY -> READY; else any failed -> FAILED; none at all -> NO_REPLICA; else
    REPLICA_INIT (SkyServe's `ServiceStatus.from_replica_statuses`). Only replicas still
    listed count: a failed replica that was cleaned away no longer marks the service FAILED."""
    if ReplicaStatus.READY in replica_statuses:
        return ServiceStatus.READY
    if any(s in FAILED_STATUSES for s in replica_statuses):
        return ServiceStatus.FAILED
    if not replica_statuses:
        return ServiceStatus.NO_REPLICA
    return ServiceStatus.REPLICA_INIT
