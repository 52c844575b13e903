"""Resources the optimizer must not pick (the failover loop fills this)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from skyhop.catalog.offer import Offer


@dataclass(frozen=True)
class Blocked:
    """`None` in a slot is a wildcard: `Blocked("aws", "us-east-1")` blocks a region.

    `spot=True` blocks only spot purchases (None: both markets). Spot is the
    cloud's spare capacity with a quota of its own: a zone out of spot machines
    may still sell on-demand ones, so a task that falls back from spot to
    on-demand (`any_of`) tries that zone again on-demand. The converse does not
    hold (no on-demand capacity leaves no spare capacity either), so an
    on-demand failure blocks both markets, and so does a whole cloud blocked
    (bad credentials).
    """

    cloud: str | None = None
    region: str | None = None
    zone: str | None = None
    instance_type: str | None = None
    spot: bool | None = None

    def matches(self, offer: Offer, spot: bool | None = None) -> bool:
        """Whether the block covers `offer` bought in the `spot` market (None: in either)."""
        return (
            (self.cloud is None or self.cloud == offer.cloud)
            and (self.region is None or self.region == offer.region)
            and (self.zone is None or self.zone == offer.zone)
            and (self.instance_type is None or self.instance_type == offer.instance_type)
            and (self.spot is None or spot is None or self.spot == spot)
        )

    def __str__(self) -> str:
        where = "/".join(part or "*" for part in (self.cloud, self.region, self.zone, self.instance_type))
        return where if self.spot is None else f"{where} ({'spot' if self.spot else 'on-demand'})"

    def to_json(self) -> dict[str, Any]:
        return {"cloud": self.cloud, "region": self.region, "zone": self.zone, "instance_type": self.instance_type, "spot": self.spot}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Blocked":
        spot = data.get("spot")
        return cls(data.get("cloud"), data.get("region"), data.get("zone"), data.get("instance_type"), spot if isinstance(spot, bool) else None)

    @classmethod
    def around(cls, offer: Offer, scope: str, spot: bool | None = None) -> "Blocked":
        """What a failure of `offer` (bought in the `spot` market) rules out: its zone, region, cloud, or only this instance type there.

        An offer without a zone is a whole region (existing-machine pools,
        clouds whose catalog has no zones), so blocking its zone blocks the region.
        """
        market = True if spot else None
        if scope == "cloud":
            return cls(offer.cloud)
        if scope == "region":
            return cls(offer.cloud, offer.region, spot=market)
        if scope == "instance":
            return cls(offer.cloud, offer.region, offer.zone, offer.instance_type, spot=market)
        return cls(offer.cloud, offer.region, offer.zone, spot=market)
