"""Which offers satisfy one concrete request, best first.

A concrete request has at most one accelerator and no alternatives (see
`Resources.expand`). Offers come pre-sorted by price per shape and cloud, so
the best offer of a cloud is usually the first one that passes the checks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from operator import attrgetter
from typing import Callable, Collection, Iterable

from skyhop.catalog.index import Catalog
from skyhop.catalog.offer import Offer
from skyhop.optimizer.blocklist import Blocked
from skyhop.spec.quantities import Quantity
from skyhop.spec.resources import Resources

# A task with no accelerator, cpus, memory or instance type gets a small general machine.
DEFAULT_CPUS = Quantity(4, at_least=True)

Check = Callable[[Offer], bool]


@dataclass(frozen=True)
class Constraint:
    """One named test an offer must pass; names feed the infeasibility report."""

    name: str
    check: Check
    # How far a failing offer is from passing (numeric limits only); ranks "nearest" offers.
    distance: Callable[[Offer], float] | None = None


def effective(request: Resources) -> Resources:
    """The request with skyhop's defaults filled in."""
    if request.accelerators or request.cpus or request.memory or request.instance_type:
        return request
    return replace(request, cpus=DEFAULT_CPUS)


def as_needs(request: Resources) -> Resources:
    """On machines that already exist, `cpus: 1` means "needs 1": any bigger machine serves it."""
    at_least = lambda q: Quantity(q.value, at_least=True) if q is not None else None  # noqa: E731
    return replace(request, cpus=at_least(request.cpus), memory=at_least(request.memory))


def _quantity_constraint(name: str, wanted: Quantity, amount_of: Callable[[Offer], float | None]) -> Constraint:
    """A cpus/memory test; offers lacking the figure fail and rank last among the nearest."""

    def check(offer: Offer) -> bool:
        amount = amount_of(offer)
        return amount is not None and wanted.satisfied_by(amount)

    def distance(offer: Offer) -> float:
        amount = amount_of(offer)
        return float("inf") if amount is None else abs(amount - wanted.value)

    return Constraint(name, check, distance)


def constraints(request: Resources, blocked: Collection[Blocked]) -> list[Constraint]:
    """Every filter except shape (accelerator/count) and spot, in report order."""
    out: list[Constraint] = []
    infra = request.infra
    if infra is not None and not infra.is_any:
        out.append(Constraint(f"infra {infra}", lambda o: infra.matches(o.cloud, o.region, o.zone)))
    if request.instance_type:
        wanted = request.instance_type
        out.append(Constraint(f"instance_type {wanted}", lambda o: o.instance_type == wanted))
    if request.image_id is not None and not isinstance(request.image_id, str):
        # An image per region (SkyPilot's `{region: image}`): only those regions have the image.
        regions = frozenset(request.image_id)
        out.append(Constraint(f"image_id regions ({', '.join(sorted(regions))})", lambda o: o.region in regions))
    if request.cpus is not None:
        out.append(_quantity_constraint(f"cpus {request.cpus}", request.cpus, attrgetter("vcpus")))
    if request.memory is not None:
        out.append(_quantity_constraint(f"memory {request.memory} GB", request.memory, attrgetter("memory_gib")))
    if blocked:
        blocks, market = tuple(blocked), request.spot
        out.append(Constraint("blocked resources", lambda o: not any(b.matches(o, market) for b in blocks)))
    if request.max_hourly_cost is not None:
        limit = request.max_hourly_cost
        spot = request.spot
        out.append(Constraint(f"max_hourly_cost ${limit:g}/h", lambda o: (o.hourly(spot) or 0) <= limit + 1e-9))
    return out


def shape_pool(catalog: Catalog, request: Resources, cloud: str) -> list[Offer]:
    """Offers of the requested shape on one cloud, cheapest first."""
    acc = request.accelerator
    if acc is None and request.instance_type:
        return catalog.of_instance_type(request.instance_type, request.spot, cloud)
    return catalog.cheapest_first(acc.name if acc else None, acc.count if acc else 0, request.spot, cloud)


def searchable_clouds(request: Resources, clouds: Iterable[str]) -> list[str]:
    pinned = request.infra.cloud if request.infra else None
    return sorted(c for c in clouds if pinned is None or c == pinned)


def best_offers(
    catalog: Catalog,
    request: Resources,
    clouds: Iterable[str],
    blocked: Collection[Blocked] = (),
    *,
    per_region: bool = False,
    existing: Collection[str] = frozenset(),
) -> list[Offer]:
    """The cheapest satisfying offer per cloud (or per cloud and region).

    On `existing` clouds (machines that already exist) the size default is for
    choosing a new VM, so an unsized task simply takes the machine as it is,
    and every region (pool) is its own candidate.
    """
    as_asked = request
    request = effective(request)
    checks = [c.check for c in constraints(request, blocked)]
    checks_as_asked = [c.check for c in constraints(as_needs(as_asked), blocked)]
    found: list[Offer] = []
    limit = request.max_hourly_cost
    for cloud in searchable_clouds(request, clouds):
        is_existing = cloud in existing
        cloud_checks = checks_as_asked if is_existing else checks
        # Each pool of existing machines is its own candidate: when one is full, the next is tried.
        by_region = per_region or is_existing
        seen_regions: set[str] = set()
        for offer in shape_pool(catalog, request, cloud):
            if limit is not None and (offer.hourly(request.spot) or 0) > limit + 1e-9:
                break  # pools are cheapest first: nothing further is under the cap
            if by_region and offer.region in seen_regions:
                continue
            if all(check(offer) for check in cloud_checks):
                found.append(offer)
                if not by_region:
                    break
                seen_regions.add(offer.region)
    return found
