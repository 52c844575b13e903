"""Where a spot service's replicas go: SpotHedge's placer (`serve.placer`) over the zones the planner can place the task's spot resources in.

The zones are asked of the planning layer, not of any provider: the task's
resources with `use_spot` are planned again and again inside one search space,
each time with the zone just found blocked (spot market only), the way failover
walks zones after capacity errors. So the list holds exactly the places a launch
could go (enabled infra, capabilities, the task's own pins and limits), cheapest
first, one per failure domain: a zone, or a region where the offer has no zones.

`SpotPlacement` is what the serve controller keeps per service run, in memory:
the placer value, each spot replica's zone, and what each zone is as an infra pin.
A restarted server builds it again with every zone active (the SkyServe paper's
"recently preempted" is recent history, and a restart loses little of it), but reads
the zone of each replica that is already up from its cluster record, so new
replicas still spread away from them. A new version of the service (`serve update`)
gets a placement of its own, since its resources may plan elsewhere.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Iterable

from skyhop.serve.placer import DynamicFallback
from skyhop.serve.states import ReplicaStatus, is_alive
from skyhop.spec.infra import Infra

#: The placer's candidates at most: enough to spread any service, few enough to plan quickly.
MAX_ZONES = 32
#: The placer that `replica_policy.spot_placer` names (the only one SkyServe has).
DYNAMIC_FALLBACK = "dynamic_fallback"


@dataclass(frozen=True)
class SpotZone:
    """One place a spot replica can be pinned to, and its spot price per node-hour there."""

    infra: Infra
    price: float

    @property
    def name(self) -> str:
        return str(self.infra)


def uses_placer(task) -> bool:
    """Whether the task's spot replicas are placed by SpotHedge: `spot_placer: dynamic_fallback` on spot resources.

    As in SkyServe (sky/serve/spot_placer.py `SpotPlacer.from_task`), only when the service names the
    placer; without it spot replicas go where the optimizer puts them.
    """
    spec = task.service
    return spec is not None and spec.spot_placer == DYNAMIC_FALLBACK and bool(task.resources.use_spot)


def spot_zones(task, limit: int = MAX_ZONES) -> tuple[SpotZone, ...]:
    """The zones the task's spot resources can be planned in, cheapest first (empty when none)."""
    from skyhop.errors import InfeasibleError
    from skyhop.optimizer.blocklist import Blocked
    from skyhop.planning.plan import plan_task
    from skyhop.planning.space import search_space

    spot = replace(task, resources=task.resources.with_overrides(use_spot=True))
    space = search_space([spot])
    found: list[SpotZone] = []
    blocked: list[Blocked] = []
    while len(found) < limit:
        try:
            chosen = plan_task(spot, space, tuple(blocked)).chosen
        except InfeasibleError:
            break
        offer = chosen.offer
        found.append(SpotZone(Infra(offer.cloud, offer.region, offer.zone), chosen.hourly_price))
        blocked.append(Blocked.around(offer, "zone", True))
    return tuple(found)


def out_of_capacity(error: BaseException) -> bool:
    """Whether a launch failed because its zone had no capacity for it (failover's capacity errors block a zone or an
    instance type there): for the placer, a pinned spot launch refused so is as good as a preemption in that zone."""
    from skyhop.planning.failover import FailoverError
    from skyhop.providers.errors import INSTANCE, ZONE

    return isinstance(error, FailoverError) and any(a.scope in (ZONE, INSTANCE) for a in error.attempts)


def placement(task, version: int, replicas: Iterable, store) -> SpotPlacement | None:
    """The placement of a service version whose spot replicas SpotHedge places (None otherwise, or with no zone to
    choose from), with the zones of its replicas already up read from their cluster records (after a restart)."""
    if not uses_placer(task):
        return None
    placed = {}
    for replica in replicas:
        record = store.get_cluster(replica.cluster) if replica.use_spot else None
        if record is not None:
            placed[replica.replica_id] = str(Infra(record.provider, record.region, record.zone))
    return SpotPlacement.of(version, spot_zones(task), placed)


@dataclass
class SpotPlacement:
    """The serve controller's placer for one version of a service, and the zone of each spot replica it placed (memory)."""

    version: int
    placer: DynamicFallback
    pins: dict[str, Infra]
    placed: dict[int, str] = field(default_factory=dict)

    @classmethod
    def of(cls, version: int, zones: Iterable[SpotZone], placed: dict[int, str] | None = None) -> SpotPlacement | None:
        """A placement over `zones` (None when there is none to choose from); `placed`: replicas already up, by zone name."""
        zones = tuple(zones)
        if not zones:
            return None
        pins = {z.name: z.infra for z in zones}
        known = {rid: zone for rid, zone in (placed or {}).items() if zone in pins}
        return cls(version, DynamicFallback.of((z.name, z.price) for z in zones), pins, known)

    def choose(self, replica_id: int, replicas: Iterable) -> tuple[Infra, str]:
        """The zone for a new spot replica (spread over the alive spot replicas' zones), and why, for the log."""
        replicas = list(replicas)
        # Replicas whose rows are gone (scaled down, replaced) are forgotten; only alive ones count toward a zone.
        listed = {r.replica_id for r in replicas}
        self.placed = {rid: zone for rid, zone in self.placed.items() if rid in listed}
        alive = {r.replica_id for r in replicas if r.use_spot and is_alive(ReplicaStatus(r.status))}
        counts = Counter(zone for rid, zone in self.placed.items() if rid in alive)
        zone = self.placer.select(counts)
        self.placed[replica_id] = zone
        preempting = [z.name for z in self.placer.zones if z.name in self.placer.preempting]
        why = f"placer: active {', '.join(self.placer.active)}" + (f"; preempting {', '.join(preempting)}" if preempting else "")
        return self.pins[zone], f"spot in zone {zone} ({why})"

    def preempted(self, replica_id: int) -> str | None:
        """The replica's zone lost it (a preemption, or no spot capacity for its launch): the zone, if placed here."""
        zone = self.placed.pop(replica_id, None)
        if zone is not None:
            self.placer = self.placer.preempted(zone)
        return zone

    def ready(self, replica_id: int) -> None:
        """The replica is READY: its zone has spot capacity again."""
        zone = self.placed.get(replica_id)
        if zone is not None:
            self.placer = self.placer.ready(zone)

