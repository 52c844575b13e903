"""Resources the optimizer must not pick (the failover loop fills this)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from skyhop.catalog.offer import Offer


@dataclass(frozen=True)
class Blocked:
    """`None` in a slot is a wildcard: `Blocked("aws", "us-east-1")` blocks a region."""

    cloud: str | None = None
    region: str | None = None
    zone: str | None = None
    instance_type: str | None = None

    def matches(self, offer: Offer) -> bool:
        return (
            (self.cloud is None or self.cloud == offer.cloud)
            and (self.region is None or self.region == offer.region)
            and (self.zone is None or self.zone == offer.zone)
            and (self.instance_type is None or self.instance_type == offer.instance_type)
        )

    def __str__(self) -> str:
        return "/".join(part or "*" for part in (self.cloud, self.region, self.zone, self.instance_type))

    def to_json(self) -> dict[str, Any]:
        return {"cloud": self.cloud, "region": self.region, "zone": self.zone, "instance_type": self.instance_type}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Blocked":
        return cls(data.get("cloud"), data.get("region"), data.get("zone"), data.get("instance_type"))

    @classmethod
    def around(cls, offer: Offer, scope: str) -> "Blocked":
        """What a failure of `offer` rules out: its zone, region, cloud, or only this instance type there.

        An offer without a zone is a whole region (existing-machine pools,
        clouds whose catalog has no zones), so blocking its zone blocks the region.
        """
        if scope == "cloud":
            return cls(offer.cloud)
        if scope == "region":
            return cls(offer.cloud, offer.region)
        if scope == "instance":
            return cls(offer.cloud, offer.region, offer.zone, offer.instance_type)
        return cls(offer.cloud, offer.region, offer.zone)
