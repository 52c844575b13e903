"""Why nothing fits: a per-constraint explanation with the nearest offers.

Runs only after the search found nothing, so it may be slow-ish: it replays
the filters one at a time and reports the first one that empties the set,
plus the cheapest offers that pass every filter before it.
"""

from __future__ import annotations

import heapq
from typing import Callable, Collection, Iterable

from skyhop.catalog.index import Catalog
from skyhop.catalog.offer import Offer
from skyhop.optimizer.blocklist import Blocked
from skyhop.optimizer.candidates import constraints, effective, searchable_clouds, shape_pool
from skyhop.spec.errors import did_you_mean
from skyhop.spec.fields import format_number
from skyhop.spec.resources import Resources

NEAREST = 3


def _offer_text(offer: Offer, spot: bool) -> str:
    price = offer.hourly(spot)
    shape = offer.describe_accelerators()
    shape = f"{shape}, " if shape != "-" else ""
    cpus = f"{format_number(offer.vcpus)} vCPUs, " if offer.vcpus is not None else ""
    mem = f"{format_number(offer.memory_gib)} GB, " if offer.memory_gib is not None else ""
    return f"{offer.cloud}/{offer.region} {offer.instance_type} ({shape}{cpus}{mem}${price:g}/h{' spot' if spot else ''})"


def _list(items: list[str], limit: int = 6) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def explain(
    catalog: Catalog,
    request: Resources,
    clouds: Collection[str],
    blocked: Collection[Blocked] = (),
    all_clouds: bool = False,
) -> str:
    """One sentence (or two) on why `request` has no offer."""
    request = effective(request)
    acc = request.accelerator
    spot = request.spot
    kind = "spot " if spot else ""
    scope = "in the catalog" if all_clouds else f"on the enabled clouds ({', '.join(sorted(clouds)) or 'none'})"
    pinned = request.infra.cloud if request.infra is not None else None
    if pinned and not all_clouds and pinned not in clouds:
        # Say what is wrong with the pin itself, not that the other clouds lack the shape.
        from skyhop.providers.credentials import RULES

        state = "not enabled here: no credentials were found for it (see `skyhop check`)" if pinned in RULES else "not a cloud or infra skyhop knows"
        return f"resources.infra: the task is pinned to {pinned}, which is {state}."
    if acc is not None:
        if not catalog.has_accelerator(acc.name):
            guess = did_you_mean(acc.name, catalog.accelerator_names())
            hint = f" Did you mean '{guess}'?" if guess else f" Known: {_list(catalog.accelerator_names(), 12)}."
            if not all_clouds:
                return (
                    f"resources.accelerators: no enabled cloud ({', '.join(sorted(clouds)) or 'none'}) offers "
                    f"'{acc.name}'; `skyhop optimize --all-clouds` shows where the catalog offers it."
                )
            return f"resources.accelerators: no cloud in the catalog offers '{acc.name}'.{hint}"
        counts = catalog.accelerator_counts(acc.name)
        if acc.count not in counts:
            largest = max(counts)
            if acc.count > largest:
                where = sorted({o.cloud for o in catalog.offers_of(acc.name) if o.accelerator_count == largest})
                return (
                    f"resources.accelerators: {acc} does not exist on one node; {acc.name}:{format_number(largest)} "
                    f"is the largest, on {_list(where)}. Use num_nodes for more."
                )
            return (
                f"resources.accelerators: no machine has exactly {acc}; counts on offer: "
                f"{', '.join(format_number(c) for c in counts)}."
            )
    pools = {cloud: shape_pool(catalog, request, cloud) for cloud in sorted(catalog.clouds)}
    everywhere = [o for offers in pools.values() for o in offers]
    shape = str(acc) if acc else (f"instance type {request.instance_type}" if request.instance_type else "CPU-only machines")
    if not everywhere:
        other = [o for o in (catalog.offers_of(acc.name if acc else None)) if o.hourly(not spot) is not None]
        if request.instance_type and acc is None and request.instance_type not in catalog.instance_types():
            guess = did_you_mean(request.instance_type, catalog.instance_types())
            return f"resources.instance_type: '{request.instance_type}' is in no catalog." + (f" Did you mean '{guess}'?" if guess else "")
        if other:
            return f"resources.use_spot: no {kind}offers of {shape} anywhere in the catalog; {'on-demand' if spot else 'spot'} offers exist."
        return f"no {kind}offers of {shape} in the catalog."
    allowed = searchable_clouds(request, clouds)
    in_scope = [o for cloud in allowed for o in pools.get(cloud, [])]
    if not in_scope:
        having = sorted({o.cloud for o in everywhere})
        if request.infra and request.infra.cloud and request.infra.cloud not in clouds:
            state = "not in the catalog" if request.infra.cloud not in catalog.clouds else "not enabled (see `skyhop check`)"
            return f"resources.infra: pinned to {request.infra.cloud}, which is {state}. {kind.capitalize()}{shape} is offered on {_list(having)}."
        if request.infra and not request.infra.is_any:
            return f"resources.infra: no {kind}offers of {shape} on {request.infra}; they exist on {_list(having)}."
        compare = "" if all_clouds else " (`skyhop optimize --all-clouds` compares them)"
        return f"no {kind}offers of {shape} {scope}; they exist on {_list(having)}{compare}."
    survivors = in_scope
    for constraint in constraints(request, blocked):
        passing = [o for o in survivors if constraint.check(o)]
        if not passing:
            distance = constraint.distance or (lambda o: 0.0)
            nearest = _nearest(survivors, lambda o: (distance(o), o.hourly(spot), o.cloud, o.region, o.instance_type))  # noqa: B023 - used before the loop moves on
            near_text = "; ".join(_offer_text(o, spot) for o in nearest)
            return f"{kind}{shape}: nothing satisfies {constraint.name} {scope}. Nearest: {near_text}."
        survivors = passing
    return f"{kind}{shape}: no offer left {scope}."


def _nearest(offers: Iterable[Offer], key: Callable[[Offer], tuple]) -> list[Offer]:
    """The NEAREST best offers by `key`, one per (cloud, instance type), without sorting them all."""
    best: dict[tuple[str, str], tuple[tuple, Offer]] = {}
    for offer in offers:
        rank = key(offer)
        slot = (offer.cloud, offer.instance_type)
        if slot not in best or rank < best[slot][0]:
            best[slot] = (rank, offer)
    return [offer for _, offer in heapq.nsmallest(NEAREST, best.values(), key=lambda item: item[0])]
