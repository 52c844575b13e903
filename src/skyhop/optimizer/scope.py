"""`Scope`: what a search may use and how it prices, shared by every optimizer entry point."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from skyhop.optimizer.blocklist import Blocked
from skyhop.optimizer.egress import DEFAULT_EGRESS_PRICES, EgressPrice
from skyhop.optimizer.gating import Refusal, refusals
from skyhop.providers.base import DEFAULT_CAPABILITIES, Capabilities
from skyhop.spec.resources import Resources

DEFAULT_HOURS = 1.0


@dataclass(frozen=True)
class Scope:
    """Clouds to search (names present in the catalog), resources to avoid, the
    expected run time, data-transfer prices, whether `clouds` is the whole
    catalog (which changes how infeasibility is explained), and which clouds
    are machines that already exist (an unsized task takes them as they are,
    and each of their regions, a pool, stays its own candidate).

    `capabilities`: what each cloud's provider honours (`optimizer/gating.py`):
    a request setting an optional field (ports, image_id, disk, ...), spot or
    more nodes than a provider allows is searched only where it is honoured;
    a cloud missing here honours no optional field. None: no filter (a
    comparison over the whole catalog, or a scope built by hand)."""

    clouds: tuple[str, ...]
    blocked: tuple[Blocked, ...] = ()
    hours: float = DEFAULT_HOURS
    egress_prices: Mapping[str, EgressPrice] = field(default_factory=lambda: dict(DEFAULT_EGRESS_PRICES))
    all_clouds: bool = False
    existing: frozenset[str] = frozenset()
    capabilities: Mapping[str, Capabilities] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "clouds", tuple(sorted(self.clouds)))
        object.__setattr__(self, "blocked", tuple(self.blocked))
        object.__setattr__(self, "existing", frozenset(self.existing))

    def clouds_for(self, request: Resources, num_nodes: int = 1) -> tuple[str, ...]:
        """The clouds that can serve `request` beyond its shape (the fields, spot and node count it asks for)."""
        refused = self.refused(request, num_nodes, pinned_only=False)
        return tuple(c for c in self.clouds if c not in refused)

    def refused(self, request: Resources, num_nodes: int = 1, *, pinned_only: bool = True) -> dict[str, list[Refusal]]:
        """Why each cloud cannot take `request` (only those its pin allows, unless `pinned_only` is False)."""
        if self.capabilities is None:
            return {}
        pinned = request.infra.cloud if request.infra is not None and pinned_only else None
        out = {}
        for cloud in self.clouds:
            reasons = refusals(request, num_nodes, self.capabilities.get(cloud, DEFAULT_CAPABILITIES))
            if reasons and pinned in (None, cloud):
                out[cloud] = reasons
        return out
