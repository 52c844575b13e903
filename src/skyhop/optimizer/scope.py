"""`Scope`: what a search may use and how it prices, shared by every optimizer entry point."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from skyhop.optimizer.blocklist import Blocked
from skyhop.optimizer.egress import DEFAULT_EGRESS_PRICES, EgressPrice

DEFAULT_HOURS = 1.0


@dataclass(frozen=True)
class Scope:
    """Clouds to search (names present in the catalog), resources to avoid, the
    expected run time, data-transfer prices, and whether `clouds` is the whole
    catalog (which changes how infeasibility is explained)."""

    clouds: tuple[str, ...]
    blocked: tuple[Blocked, ...] = ()
    hours: float = DEFAULT_HOURS
    egress_prices: Mapping[str, EgressPrice] = field(default_factory=lambda: dict(DEFAULT_EGRESS_PRICES))
    all_clouds: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "clouds", tuple(sorted(self.clouds)))
        object.__setattr__(self, "blocked", tuple(self.blocked))
