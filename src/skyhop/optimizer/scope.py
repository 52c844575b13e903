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
    expected run time, data-transfer prices, whether `clouds` is the whole
    catalog (which changes how infeasibility is explained), and which clouds
    are machines that already exist (an unsized task takes them as they are,
    and each of their regions, a pool, stays its own candidate)."""

    clouds: tuple[str, ...]
    blocked: tuple[Blocked, ...] = ()
    hours: float = DEFAULT_HOURS
    egress_prices: Mapping[str, EgressPrice] = field(default_factory=lambda: dict(DEFAULT_EGRESS_PRICES))
    all_clouds: bool = False
    existing: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "clouds", tuple(sorted(self.clouds)))
        object.__setattr__(self, "blocked", tuple(self.blocked))
        object.__setattr__(self, "existing", frozenset(self.existing))
