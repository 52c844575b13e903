"""Where the next spot replica goes: SpotHedge's `dynamic_fallback` spot placer, as a pure value.

The SkyServe paper (EuroSys'25) spreads spot replicas over zones so that one zone's
preemption wave takes few of them, and steers new ones away from zones that just preempted:

- every zone starts *active*; a preemption (or a spot launch refused for capacity) moves
  its zone to *preempting*; a replica there becoming READY moves it back (the zone has
  capacity again);
- when fewer than two zones would stay active, all zones return to active: spreading over
  one zone is no spreading, and a zone's "recent preemption" says little once every zone
  had one;
- a new spot replica goes to the active zone with the fewest of the service's current
  replicas, ties to the cheaper spot price, then to the zone name (so runs repeat).

Departure from SkyPilot's `DynamicFallbackSpotPlacer` (sky/serve/spot_placer.py, read for
behaviour): it picks the cheapest active zone and its "prefer zones not yet used" filter
reads current locations *outside* the active list; skyhop spreads by replica count first,
which is what the paper describes and what keeps one zone's preemption from taking more
than its share.

The value is immutable: `preempted` and `ready` return the next placer, so the serve
controller can persist `preempting` as it persists the autoscaler's state, and the
simulator replays the very same object with a virtual clock. No I/O, no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Iterable, Mapping


@dataclass(frozen=True)
class Zone:
    """A place a spot replica can go, and its spot price (any unit; only the order matters)."""

    name: str
    price: float


@dataclass(frozen=True)
class DynamicFallback:
    """SpotHedge's placer state: the zones, cheapest first, and those that recently preempted."""

    zones: tuple[Zone, ...]
    preempting: frozenset[str] = frozenset()

    @classmethod
    def of(cls, zones: Iterable[tuple[str, float]]) -> DynamicFallback:
        """A placer over (zone name, spot price) pairs, all active."""
        listed = tuple(sorted((Zone(name, float(price)) for name, price in zones), key=_preference))
        if not listed:
            raise ValueError("a spot placer needs at least one zone")
        names = [z.name for z in listed]
        if len(set(names)) != len(names):
            raise ValueError(f"zone names must be unique, got {sorted(names)}")
        bad = [z.name for z in listed if not (math.isfinite(z.price) and z.price >= 0)]
        if bad:
            raise ValueError(f"spot prices must be finite numbers >= 0 (zones {bad})")
        return cls(listed)

    @property
    def active(self) -> tuple[str, ...]:
        """Zones new replicas may go to, cheapest first."""
        return tuple(z.name for z in self.zones if z.name not in self.preempting)

    def select(self, current: Mapping[str, int]) -> str:
        """The zone for one new spot replica, given the service's spot replicas per zone now
        (zones missing from `current` hold none; names this placer does not know are ignored)."""
        candidates = [z for z in self.zones if z.name not in self.preempting]
        return min(candidates, key=lambda z: (current.get(z.name, 0), *_preference(z))).name

    def preempted(self, zone: str) -> DynamicFallback:
        """After a preemption in `zone` (or a spot launch there refused for lack of capacity)."""
        self._check(zone)
        preempting = self.preempting | {zone}
        if len(self.zones) - len(preempting) < 2:
            preempting = frozenset()
        return replace(self, preempting=preempting)

    def ready(self, zone: str) -> DynamicFallback:
        """After a spot replica in `zone` became READY: the zone has capacity again."""
        self._check(zone)
        return replace(self, preempting=self.preempting - {zone}) if zone in self.preempting else self

    def _check(self, zone: str) -> None:
        if all(z.name != zone for z in self.zones):
            raise ValueError(f"unknown zone {zone!r}; the placer knows {[z.name for z in self.zones]}")


def _preference(zone: Zone) -> tuple[float, str]:
    """Cheaper first, then by name: a stable order when prices tie (as they do within a region)."""
    return (zone.price, zone.name)
