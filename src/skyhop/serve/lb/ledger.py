"""The load balancer's in-flight ledger: which replicas may take a request, and how many each is serving.

Why a ledger with tokens (SkyPilot issue #10444): SkyPilot counted in-flight requests per replica URL,
incremented before proxying and decremented only after a clean stream, so timeouts leaked +1 for
ever; its least_load policy deleted a leaving replica's counter, a late completion then recreated it
at -1, and a returning URL inherited that phantom load; ties always went to the first replica.
Here every request holds a `Slot` from `acquire()` and gives it back with `release()`, which is
idempotent (the proxy may call it from its `finally` and again from a safety net); counts are keyed
by replica_id (never reused by the controller), a Slot points at the exact entry it counted on, so
a removed replica's late completions cannot touch a re-added id's fresh count, and a removed
replica's entry disappears when its last Slot comes back (memory stays bounded under churn).

Concurrency: asyncio-only, deliberately without a lock. The proxy runs one event loop that serves
both the public port and the control socket; no method here awaits, so each call is atomic with
respect to that loop, and a lock would only add cost to every request. Call it from one thread.
No I/O and no clock: the policies depend on counts alone, which keeps them testable by replay.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from skyhop.spec.service import LOAD_BALANCING_POLICIES, qps_of_accelerator

# SkyServe's default policy since its #4439.
DEFAULT_POLICY = "least_load"


def qps_weight(accelerator: str | None, target_qps_per_replica: float | Mapping[str, float] | None) -> float:
    """The QPS one replica with `accelerator` is expected to serve, the weight instance-aware routing divides by.

    Looks the accelerator up in the per-accelerator map as the autoscaler does
    (`spec.service.qps_of_accelerator`); anything else (no map, unknown or missing accelerator)
    weighs 1.0, as SkyServe's load balancer does, so such replicas are compared on raw in-flight counts.
    """
    if not isinstance(target_qps_per_replica, Mapping):
        return 1.0
    value = qps_of_accelerator(target_qps_per_replica, accelerator)
    return float(value) if value is not None and value > 0 else 1.0


@dataclass(frozen=True)
class Route:
    """One replica as the controller pushes it to the load balancer (`PUT /routes`)."""

    replica_id: int
    url: str
    version: int = 1
    accelerator: str | None = None
    qps: float = 1.0
    # Draining: finish what it is serving, take nothing new (scale-down, update, shutdown).
    draining: bool = False

    def __post_init__(self) -> None:
        # Checked here so a bad push is refused whole (the control socket answers 400), never divided by.
        if not (self.qps > 0 and math.isfinite(self.qps)):
            raise ValueError(f"qps of replica {self.replica_id} must be a positive number, not {self.qps!r}")


class _Entry:
    """A replica's in-flight count; one object per time the id is (re)added, so Slots find theirs."""

    __slots__ = ("route", "in_flight", "retired")

    def __init__(self, route: Route) -> None:
        self.route = route
        self.in_flight = 0
        self.retired = False


@dataclass(frozen=True, eq=False)
class Slot:
    """Proof that one request counts against one replica; hand it back to `Ledger.release` exactly once or more.

    Compared by identity: two requests to the same replica hold two different Slots.
    """

    replica_id: int
    url: str
    _entry: _Entry


class Ledger:
    """The routable replicas of one service, their in-flight counts, and the policy that picks among them."""

    def __init__(self, policy: str | None = None) -> None:
        chosen = (policy or DEFAULT_POLICY).lower()
        if chosen not in LOAD_BALANCING_POLICIES:
            raise ValueError(f"load_balancing_policy must be one of {', '.join(LOAD_BALANCING_POLICIES)}, not {policy!r}")
        self.policy = chosen
        self._live: dict[int, _Entry] = {}
        # Removed replicas that still serve requests; each vanishes when its count reaches 0.
        self._retired: set[_Entry] = set()
        # Routable ids in ascending order, rebuilt on every set_routes (rare) so acquire (hot) does not sort.
        self._routable: list[int] = []
        self._open: set[Slot] = set()
        self._last_pick: int | None = None

    def set_routes(self, routes: Iterable[Route]) -> None:
        """Replace the routable set: staying replicas keep their counts, new ones start at 0.

        A removed replica gets no new requests; its entry stays only while requests are open on it.
        """
        incoming: dict[int, Route] = {}
        for route in routes:
            if route.replica_id in incoming:
                raise ValueError(f"replica_id {route.replica_id} appears twice in the routes")
            incoming[route.replica_id] = route
        for replica_id in list(self._live):
            if replica_id not in incoming:
                self._retire(self._live.pop(replica_id))
        for replica_id, route in incoming.items():
            entry = self._live.get(replica_id)
            if entry is None:
                self._live[replica_id] = _Entry(route)
            else:
                entry.route = route
        self._routable = sorted(i for i, e in self._live.items() if not e.route.draining)

    def acquire(self, exclude: Collection[int] = ()) -> Slot | None:
        """Pick a replica for one request by the policy and count it; None when none is routable.

        `exclude` holds replica ids this request already tried (retries go elsewhere). None is the
        proxy's cue to answer 503 with Retry-After.
        """
        candidates = [i for i in self._routable if i not in exclude] if exclude else self._routable
        if not candidates:
            return None
        if self.policy != "round_robin":
            candidates = self._least_loaded(candidates)
        replica_id = self._next_after_last(candidates)
        self._last_pick = replica_id
        entry = self._live[replica_id]
        entry.in_flight += 1
        slot = Slot(replica_id, entry.route.url, entry)
        self._open.add(slot)
        return slot

    def release(self, slot: Slot) -> None:
        """Give a Slot back; a second release of the same Slot, or one from another ledger, does nothing."""
        if slot not in self._open:
            return
        self._open.remove(slot)
        entry = slot._entry
        entry.in_flight -= 1
        if entry.retired and entry.in_flight == 0:
            self._retired.discard(entry)

    def in_flight(self) -> dict[int, int]:
        """Open requests per replica id, removed-but-busy replicas included (for `GET /stats`)."""
        counts: dict[int, int] = {}
        for entry in (*self._live.values(), *self._retired):
            counts[entry.route.replica_id] = counts.get(entry.route.replica_id, 0) + entry.in_flight
        return counts

    def open_count(self) -> int:
        """Requests holding a Slot right now."""
        return len(self._open)

    def routes(self) -> list[Route]:
        """The current set as pushed (draining ones included), in replica_id order."""
        return [self._live[i].route for i in sorted(self._live)]

    def load(self, replica_id: int) -> float:
        """The load the policy compares: in-flight, divided by the QPS weight for instance-aware routing."""
        entry = self._live[replica_id]
        if self.policy == "instance_aware_least_load":
            return entry.in_flight / entry.route.qps
        return float(entry.in_flight)

    def _retire(self, entry: _Entry) -> None:
        if entry.in_flight > 0:
            entry.retired = True
            self._retired.add(entry)

    def _least_loaded(self, candidates: list[int]) -> list[int]:
        loads = [self.load(i) for i in candidates]
        lowest = min(loads)
        return [i for i, load in zip(candidates, loads) if load == lowest]

    def _next_after_last(self, candidates: list[int]) -> int:
        """The first candidate after the previous pick, wrapping: plain round-robin, and tie rotation among minima."""
        last = self._last_pick
        if last is not None:
            for replica_id in candidates:
                if replica_id > last:
                    return replica_id
        return candidates[0]

