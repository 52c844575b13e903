"""Optimize one task: tiers of alternatives -> candidates -> the cheapest plan."""

from __future__ import annotations

from typing import Mapping

from skyhop.catalog.index import Catalog
from skyhop.errors import InfeasibleError
from skyhop.optimizer import gating
from skyhop.optimizer.candidates import best_offers, searchable_clouds
from skyhop.optimizer.egress import EgressPrice, Location, data_location, transfer_price
from skyhop.optimizer.infeasible import explain
from skyhop.optimizer.plan import Candidate, Plan
from skyhop.optimizer.scope import Scope
from skyhop.spec.task import Task


def input_locations(task: Task) -> list[tuple[Location, float]]:
    """(location, GB) of each input that lives in a cloud."""
    out = []
    for key, size in task.inputs.items():
        location = data_location(key, f"inputs.{key}")
        if location is not None and size > 0:
            out.append((location, float(size)))
    return out


def input_egress(inputs: list[tuple[Location, float]], dest: Location, prices: Mapping[str, EgressPrice]) -> float:
    return float(sum(size * transfer_price(source, dest, prices) for source, size in inputs))


def stage_candidates(task: Task, catalog: Catalog, scope: Scope, *, per_region: bool = False) -> tuple[list[Candidate], list[str]]:
    """Candidates of the first tier that has any, and notes on skipped tiers.

    Raises InfeasibleError explaining every alternative when no tier has one.
    """
    inputs = input_locations(task)
    # Egress from an input with no region is the same for every region of a cloud,
    # so only inputs pinned to a region make the per-region search worth its cost.
    per_region = per_region or any(location[1] is not None for location, _ in inputs)
    notes: list[str] = []
    reasons: list[str] = []
    for tier_index, tier in enumerate(task.resources.expand()):
        found: list[Candidate] = []
        for request in tier:
            for offer in best_offers(catalog, request, scope.clouds_for(request, task.num_nodes), scope.blocked, per_region=per_region, existing=scope.existing):
                egress = input_egress(inputs, offer.location, scope.egress_prices)
                found.append(Candidate(offer, request, request.spot, task.num_nodes, scope.hours, egress))
        if found:
            if tier_index:
                notes.append(f"Earlier preference(s) had no offer: {' '.join(reasons)}")
            return sorted(found, key=Candidate.sort_key), notes
        reasons.extend(f"[{request.describe()}] {_why_none(catalog, request, scope, task.num_nodes)}" for request in tier)
    label = f"task '{task.name}'" if task.name else "the task"
    raise InfeasibleError(f"No offer can run {label} ({task.num_nodes} node(s)). " + " ".join(reasons))


def _why_none(catalog: Catalog, request, scope: Scope, num_nodes: int) -> str:
    """Why `request` has no offer: the fields, spot or node count that providers which would have
    one do not honour (`optimizer/gating.py`), and why the rest have no offer, if any rest."""
    clouds = scope.clouds_for(request, num_nodes)
    pinned = request.infra.cloud if request.infra is not None else None
    if pinned in scope.clouds and pinned not in clouds:  # the pinned cloud is enabled: what it does not do is the reason
        return gating.explain({pinned: scope.refused(request, num_nodes)[pinned]})
    # Named only where the refusal is what stands in the way: the cloud has an offer otherwise.
    refused = {c: why for c, why in scope.refused(request, num_nodes).items() if best_offers(catalog, request, (c,), scope.blocked, existing=scope.existing)}
    if not refused:
        return explain(catalog, request, clouds, scope.blocked, scope.all_clouds)
    gated = gating.explain(refused)
    if not searchable_clouds(request, clouds):
        return gated
    return f"{explain(catalog, request, clouds, scope.blocked, scope.all_clouds)} Elsewhere, {gated}"


def best_per_group(candidates: list[Candidate], existing: frozenset[str] = frozenset()) -> list[Candidate]:
    """The table users see: the best candidate per cloud x accelerator x spot."""
    best: dict[tuple, Candidate] = {}
    for candidate in candidates:  # already cheapest first
        offer = candidate.offer
        pool = offer.region if offer.cloud in existing else None  # every pool stays a candidate
        key = (offer.cloud, pool, offer.accelerator, offer.accelerator_count, candidate.spot)
        best.setdefault(key, candidate)
    return list(best.values())


def optimize_task(task: Task, catalog: Catalog, scope: Scope) -> Plan:
    """The cheapest plan for one task within `scope`."""
    found, notes = stage_candidates(task, catalog, scope)
    found, cpu_note = prefer_machines_without_accelerators(found, catalog, scope.existing)
    table = best_per_group(found, scope.existing)
    return Plan(task.name, table[0], tuple(table), considered_clouds(task, scope), tuple(notes) + cpu_note)


def prefer_machines_without_accelerators(
    found: list[Candidate], catalog: Catalog, existing: frozenset[str]
) -> tuple[list[Candidate], tuple[str, ...]]:
    """CPU-only requests go to machines without accelerators first; the note says when one could not.

    Catalog VMs are what they are priced as (a GCP n1 host without its attached
    T4 is a plain VM), but a pool of existing machines with GPUs also serves
    CPU-only tasks with the GPUs still in the host (taken and paid for whole). Nobody asking for CPUs wants to hold an idle A100:8 host while a
    plain machine would do, so such hosts come after every plain one.
    """

    def carries(candidate: Candidate) -> bool:
        offer = candidate.offer
        if offer.cloud not in existing or candidate.request.accelerator is not None or offer.accelerator:
            return False
        same = catalog.of_instance_type(offer.instance_type, candidate.spot, offer.cloud)
        return any(o.accelerator and o.region == offer.region and o.zone == offer.zone for o in same)

    with_gpus = [c for c in found if carries(c)]
    if not with_gpus:
        return found, ()
    plain = [c for c in found if not carries(c)]
    where = ", ".join(dict.fromkeys(f"{c.offer.cloud}/{c.offer.region}" for c in with_gpus))
    if plain:
        return plain + with_gpus, (f"CPU-only task: machines without accelerators come first; {where} (hosts with accelerators) only if they fail.",)
    return with_gpus, (f"CPU-only task: no machine without accelerators fits, so it takes a host with accelerators on {where}.",)


def considered_clouds(task: Task, scope: Scope) -> tuple[str, ...]:
    """The clouds the task's requests could go to: a pin (`--infra lambda`) narrows the scope to it."""
    requests = [request for tier in task.resources.expand() for request in tier]
    return tuple(sorted({cloud for request in requests for cloud in searchable_clouds(request, scope.clouds_for(request, task.num_nodes))}))
