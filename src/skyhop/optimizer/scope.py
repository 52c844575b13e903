"""`Scope`: what a search may use and how it prices, shared by every optimizer entry point."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from skyhop.optimizer.blocklist import Blocked
from skyhop.optimizer.egress import DEFAULT_EGRESS_PRICES, EgressPrice
from skyhop.spec.resources import Resources

DEFAULT_HOURS = 1.0


@dataclass(frozen=True)
class Scope:
    """Clouds to search (names present in the catalog), resources to avoid, the
    expected run time, data-transfer prices, whether `clouds` is the whole
    catalog (which changes how infeasibility is explained), and which clouds
    are machines that already exist (an unsized task takes them as they are,
    and each of their regions, a pool, stays its own candidate).

    `port_openers`: the clouds whose provider can open ports (`PortOpener`); a
    request with `ports` is searched on those only. None: no filter (a
    comparison over the whole catalog, or a scope built by hand)."""

    clouds: tuple[str, ...]
    blocked: tuple[Blocked, ...] = ()
    hours: float = DEFAULT_HOURS
    egress_prices: Mapping[str, EgressPrice] = field(default_factory=lambda: dict(DEFAULT_EGRESS_PRICES))
    all_clouds: bool = False
    existing: frozenset[str] = frozenset()
    port_openers: frozenset[str] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "clouds", tuple(sorted(self.clouds)))
        object.__setattr__(self, "blocked", tuple(self.blocked))
        object.__setattr__(self, "existing", frozenset(self.existing))
        if self.port_openers is not None:
            object.__setattr__(self, "port_openers", frozenset(self.port_openers))

    def clouds_for(self, request: Resources) -> tuple[str, ...]:
        """The clouds that can serve `request` beyond its shape: opening ports needs a provider that can."""
        if request.ports and self.port_openers is not None:
            return tuple(c for c in self.clouds if c in self.port_openers)
        return self.clouds

    def cannot_open_ports(self, request: Resources) -> tuple[str, ...]:
        """The clouds `request` may go to (its pin) that were left out only because they cannot open its ports."""
        if not request.ports or self.port_openers is None:
            return ()
        pinned = request.infra.cloud if request.infra is not None else None
        return tuple(c for c in self.clouds if c not in self.port_openers and pinned in (None, c))
