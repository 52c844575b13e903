"""What the optimizer returns: candidates and the chosen one, with costs.

`to_json` is the stable, documented schema of `skyhop optimize --output
json` (docs/json-output.md); add fields, never rename or remove them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from skyhop.catalog.offer import Offer
from skyhop.spec.resources import Resources

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Candidate:
    """One offer priced for a task: `nodes` machines for `hours`."""

    offer: Offer
    request: Resources
    spot: bool
    nodes: int
    hours: float
    egress_cost: float = 0.0

    @property
    def hourly_price(self) -> float:
        """Per node."""
        price = self.offer.hourly(self.spot)
        assert price is not None, "candidates are built only from priced offers"
        return price

    @property
    def cluster_hourly_price(self) -> float:
        return self.hourly_price * self.nodes

    @property
    def compute_cost(self) -> float:
        return self.cluster_hourly_price * self.hours

    @property
    def total_cost(self) -> float:
        return self.compute_cost + self.egress_cost

    def sort_key(self) -> tuple:
        """Cheapest first; ties broken by name so plans are deterministic."""
        o = self.offer
        return (round(self.total_cost, 9), o.cloud, o.region, o.zone or "", o.instance_type, self.spot)

    def to_json(self) -> dict[str, Any]:
        o = self.offer
        return {
            "cloud": o.cloud,
            "region": o.region,
            "zone": o.zone,
            "instance_type": o.instance_type,
            "accelerators": o.describe_accelerators() if o.accelerator else None,
            "accelerator_name": o.accelerator,
            "accelerator_count": _num(o.accelerator_count) if o.accelerator else 0,
            "vcpus": _num(o.vcpus) if o.vcpus is not None else None,
            "memory_gib": _num(o.memory_gib) if o.memory_gib is not None else None,
            "gpu_memory_gib": o.gpu_memory_gib,
            "use_spot": self.spot,
            "hourly_price": round(self.hourly_price, 6),
            "nodes": self.nodes,
            "cluster_hourly_price": round(self.cluster_hourly_price, 6),
            "estimated_hours": self.hours,
            "compute_cost": round(self.compute_cost, 6),
            "egress_cost": round(self.egress_cost, 6),
            "estimated_cost": round(self.total_cost, 6),
            "request": self.request.describe(),
        }


@dataclass(frozen=True)
class Plan:
    """The optimizer's answer for one task."""

    task_name: str | None
    chosen: Candidate
    candidates: tuple[Candidate, ...]
    considered_clouds: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "task": self.task_name}
        out.update(self.chosen.to_json())
        out["candidates"] = [dict(c.to_json(), chosen=c == self.chosen) for c in self.candidates]
        out["considered_clouds"] = list(self.considered_clouds)
        out["notes"] = list(self.notes)
        return out


@dataclass(frozen=True)
class PipelinePlan:
    """One plan per stage plus the data moved between stages."""

    name: str | None
    stages: tuple[Plan, ...]
    transfer_cost: float
    method: str  # "single", "chain-dp" or "ilp"

    @property
    def total_cost(self) -> float:
        return sum(p.chosen.total_cost for p in self.stages) + self.transfer_cost

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "pipeline": self.name,
            "method": self.method,
            "stages": [p.to_json() for p in self.stages],
            "transfer_cost": round(self.transfer_cost, 6),
            "estimated_cost": round(self.total_cost, 6),
        }


def _num(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value
