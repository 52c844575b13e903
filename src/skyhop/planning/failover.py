"""Failover bookkeeping: one `Attempt` per offer tried, the blocked set they add up to, the final table.

The launch loop (execution/launch.py `_provision`) tries the plan's best
offer; a typed provider failure blocks exactly the scope the error names
(capacity -> that zone, quota -> that region, auth -> that cloud) and the
task is planned again in the same search space without it. So a full zone
moves the launch to the next zone of the same cloud, then to another region,
then to another cloud, in price order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from skyhop.errors import SkyhopError
from skyhop.optimizer.blocklist import Blocked

LAUNCHED = "launched"
FAILED = "failed"


@dataclass(frozen=True)
class Attempt:
    """One offer tried: where, what, for how much, and what happened.

    `blocked` is what the failure ruled out and `scope` the error's word for
    it (zone, region, cloud, instance): the table and `--output json` show
    them, since "capacity in us-east-1a" and "quota in us-east-1" read alike
    until one says what the launch stopped trying. `instance_type` is its own
    column because `resources` (`1x p5.48xlarge (H100:8)`) is for people.
    """

    infra: str
    resources: str
    cluster_hourly_price: float
    outcome: str
    reason: str | None = None
    blocked: Blocked | None = None
    instance_type: str = ""
    scope: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "infra": self.infra,
            "instance_type": self.instance_type,
            "resources": self.resources,
            "cluster_hourly_price": round(self.cluster_hourly_price, 6),
            "outcome": self.outcome,
            "reason": self.reason,
            "scope": self.scope,
            "blocked": self.blocked.to_json() if self.blocked else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Attempt":
        """Also reads the attempts of request logs written before `instance_type` and `scope` existed."""
        blocked = data.get("blocked")
        return cls(
            str(data["infra"]), str(data["resources"]), float(data["cluster_hourly_price"]), str(data["outcome"]),
            data.get("reason"), Blocked.from_json(blocked) if blocked else None,
            str(data.get("instance_type") or ""), data.get("scope"),
        )

    @classmethod
    def failed(cls, candidate, reason: str, scope: str) -> "Attempt":
        """The candidate failed with an error of `scope`: it blocks that much around the offer."""
        offer = candidate.offer
        return cls(
            where(offer), describe(candidate), candidate.cluster_hourly_price, FAILED, reason,
            Blocked.around(offer, scope, candidate.spot), offer.instance_type, scope,
        )

    @classmethod
    def launched(cls, candidate) -> "Attempt":
        offer = candidate.offer
        return cls(where(offer), describe(candidate), candidate.cluster_hourly_price, LAUNCHED, instance_type=offer.instance_type)

    @property
    def blocked_text(self) -> str:
        """`zone aws/us-east-1/us-east-1a`: what the failure ruled out, named by its extent; `-` for nothing.

        Named from `blocked`, not `scope`: a zone-scoped error on an offer
        without zones (a pool, a zone-less cloud) blocks the whole region.
        """
        b = self.blocked
        if b is None:
            return "-"
        extent = "instance" if b.instance_type else "zone" if b.zone else "region" if b.region else "cloud"
        market = " (spot)" if b.spot else ""
        return f"{extent} {'/'.join(part for part in (b.cloud, b.region, b.zone, b.instance_type) if part)}{market}"

    def line(self) -> str:
        """A failed attempt as it happens, in the launch output (the launched one is the plan's result)."""
        return f"{self.infra} {self.instance_type}: {self.reason} Blocked {self.blocked_text}; trying the next candidate."


def where(offer) -> str:
    """`cloud/region/zone` of an offer, as users write infra."""
    return "/".join(part for part in (offer.cloud, offer.region, offer.zone) if part)


def describe(candidate) -> str:
    """`2x gpu_8x_h100_sxm5 (H100:8, spot)`: what was asked of the provider."""
    offer = candidate.offer
    parts = [offer.describe_accelerators()] if offer.accelerator else [f"{offer.vcpus:g} vCPUs"] if offer.vcpus is not None else []
    if candidate.spot:
        parts.append("spot")
    inner = f" ({', '.join(parts)})" if parts else ""
    return f"{candidate.nodes}x {offer.instance_type}{inner}"


def blocked_by(attempts: Iterable[Attempt]) -> tuple[Blocked, ...]:
    """The blocked set the attempts add up to (what a resumed launch starts from)."""
    return tuple(dict.fromkeys(a.blocked for a in attempts if a.blocked is not None))


def table(attempts: Sequence[Attempt]) -> str:
    """Every attempt as a plain-text table (INFRA, INSTANCE TYPE, BLOCKED, ERROR): part of the final error.

    ERROR is last because it is free text of any length; the others line up.
    """
    rows = [("INFRA", "INSTANCE TYPE", "BLOCKED", "ERROR")]
    rows += [(a.infra, a.instance_type or "-", a.blocked_text, a.reason or a.outcome) for a in attempts]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(f"  {r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}" for r in rows)


class FailoverError(SkyhopError):
    """Every offer in the search space was tried (or blocked) and none could be launched."""

    def __init__(self, attempts: Sequence[Attempt], why_nothing_left: str) -> None:
        self.attempts = tuple(attempts)
        tried = f"Tried {len(self.attempts)} offer(s); none could be launched:\n{table(self.attempts)}\n" if self.attempts else ""
        super().__init__(f"{tried}Nothing else is left to try: {why_nothing_left}")
