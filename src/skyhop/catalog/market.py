"""`show-gpus`: what accelerators are on the market, where, and at what price."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from skyhop.catalog.index import Catalog
from skyhop.catalog.offer import Offer
from skyhop.spec.accelerators import accelerator_key
from skyhop.spec.infra import Infra


@dataclass(frozen=True)
class GpuSummary:
    """One accelerator on one cloud: counts per node and cheapest prices per device-hour."""

    accelerator: str
    cloud: str
    counts: tuple[float, ...]
    cheapest_per_gpu: float | None
    cheapest_spot_per_gpu: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "accelerator": self.accelerator,
            "cloud": self.cloud,
            "counts": [_num(c) for c in self.counts],
            "cheapest_hourly_price_per_gpu": _round(self.cheapest_per_gpu),
            "cheapest_spot_hourly_price_per_gpu": _round(self.cheapest_spot_per_gpu),
        }


@dataclass(frozen=True)
class GpuOffer:
    """One instance shape of one accelerator: cheapest region (or each region)."""

    offer: Offer
    spot_offer: Offer | None

    def to_json(self) -> dict[str, Any]:
        o = self.offer
        return {
            "accelerator": o.accelerator,
            "count": _num(o.accelerator_count),
            "cloud": o.cloud,
            "instance_type": o.instance_type,
            "gpu_memory_gib": o.gpu_memory_gib,
            "vcpus": _num(o.vcpus) if o.vcpus is not None else None,
            "memory_gib": _num(o.memory_gib) if o.memory_gib is not None else None,
            "hourly_price": _round(o.price),
            "spot_hourly_price": _round(self.spot_offer.spot_price) if self.spot_offer else None,
            "region": o.region,
            "spot_region": self.spot_offer.region if self.spot_offer else None,
        }


def _num(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _in_scope(offer: Offer, infra: Infra | None) -> bool:
    return infra is None or infra.matches(offer.cloud, offer.region, offer.zone if infra.zone else None)


def summarize(catalog: Catalog, infra: Infra | None = None) -> list[GpuSummary]:
    """Every accelerator per cloud, sorted by name then cloud."""
    groups: dict[tuple[str, str], list[Offer]] = {}
    for offer in catalog.offers:
        if offer.accelerator and _in_scope(offer, infra):
            groups.setdefault((offer.accelerator, offer.cloud), []).append(offer)
    out = []
    for (name, cloud), offers in groups.items():
        per_gpu = [o.price / o.accelerator_count for o in offers if o.price is not None]
        per_gpu_spot = [o.spot_price / o.accelerator_count for o in offers if o.spot_price is not None]
        out.append(
            GpuSummary(
                name,
                cloud,
                tuple(sorted({o.accelerator_count for o in offers})),
                min(per_gpu) if per_gpu else None,
                min(per_gpu_spot) if per_gpu_spot else None,
            )
        )
    return sorted(out, key=lambda s: (s.accelerator.lower(), s.cloud))


def offers_for(catalog: Catalog, name: str, count: float | None = None, infra: Infra | None = None, all_regions: bool = False) -> list[GpuOffer]:
    """Instance shapes carrying `name` (optionally exactly `count`), cheapest region each."""
    key = accelerator_key(name)
    shapes: dict[tuple, list[Offer]] = {}
    for offer in catalog.offers:
        if offer.accelerator and accelerator_key(offer.accelerator) == key and _in_scope(offer, infra):
            if count is not None and offer.accelerator_count != count:
                continue
            region_key = offer.region if all_regions else None
            shapes.setdefault((offer.cloud, offer.instance_type, offer.accelerator_count, region_key), []).append(offer)
    out = []
    for offers in shapes.values():
        on_demand = [o for o in offers if o.price is not None]
        spot = [o for o in offers if o.spot_price is not None]
        cheapest = min(on_demand, key=lambda o: (o.price, o.region)) if on_demand else min(offers, key=lambda o: (o.spot_price, o.region))
        cheapest_spot = min(spot, key=lambda o: (o.spot_price, o.region)) if spot else None
        out.append(GpuOffer(cheapest, cheapest_spot))
    return sorted(
        out,
        key=lambda g: (g.offer.accelerator_count, g.offer.price if g.offer.price is not None else float("inf"), g.offer.cloud, g.offer.instance_type, g.offer.region),
    )
