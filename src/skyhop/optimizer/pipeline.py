"""Place every stage of a pipeline, paying for compute and for data moved.

Each stage is reduced to its best candidate per location (cloud, region),
because the data moved between stages depends only on where they run. A chain
is solved exactly by dynamic programming over locations; a general DAG by an
integer program (HiGHS) with one binary per (stage, location) and a transfer
flow per edge that ties the two endpoints' choices together.
"""

from __future__ import annotations

from typing import Mapping

from skyhop.catalog.index import Catalog
from skyhop.errors import InfeasibleError
from skyhop.optimizer.egress import EgressPrice, Location, transfer_price
from skyhop.optimizer.plan import Candidate, PipelinePlan, Plan
from skyhop.optimizer.scope import Scope
from skyhop.optimizer.search import best_per_group, considered_clouds, optimize_task, stage_candidates
from skyhop.spec.pipeline import Pipeline

StageChoices = dict  # Location -> Candidate


def best_per_location(candidates: list[Candidate]) -> StageChoices:
    best: StageChoices = {}
    for candidate in candidates:  # cheapest first
        best.setdefault(candidate.offer.location, candidate)
    return best


def edge_cost(pipeline: Pipeline, up: int, a: Location, b: Location, prices: Mapping[str, EgressPrice]) -> float:
    return pipeline.tasks[up].egress_gb * transfer_price(a, b, prices)


def solve_chain(pipeline: Pipeline, choices: list[StageChoices], prices: Mapping[str, EgressPrice]) -> list[Location]:
    """Exact DP for a chain: O(stages x locations^2)."""
    costs = {loc: (c.total_cost, [loc]) for loc, c in sorted(choices[0].items())}
    for stage in range(1, len(choices)):
        nxt = {}
        for loc, candidate in sorted(choices[stage].items()):
            best_prev = min(
                costs.items(),
                key=lambda item: (item[1][0] + edge_cost(pipeline, stage - 1, item[0], loc, prices), item[0]),
            )
            total = best_prev[1][0] + edge_cost(pipeline, stage - 1, best_prev[0], loc, prices) + candidate.total_cost
            nxt[loc] = (total, best_prev[1][1] + [loc])
        costs = nxt
    return min(costs.items(), key=lambda item: (item[1][0], item[0]))[1][1]


#: The exact DAG model has a variable per (upstream, downstream) location pair of each edge.
#: Past this many it takes minutes (and it runs in the API server): refuse with what to narrow.
MAX_EDGE_VARIABLES = 200_000
#: A bound on HiGHS itself, whatever the model's size.
SOLVE_TIME_LIMIT_S = 30.0


def solve_dag(pipeline: Pipeline, choices: list[StageChoices], prices: Mapping[str, EgressPrice]) -> list[Location]:
    """Exact ILP for any DAG, solved with HiGHS (bounded in size and time: see MAX_EDGE_VARIABLES)."""
    locations = [sorted(stage) for stage in choices]
    size = sum(len(locations[up]) * len(locations[down]) for up, down in pipeline.edges)
    if size > MAX_EDGE_VARIABLES:
        raise InfeasibleError(
            f"The pipeline is too large to place exactly: its edges join {size:,} pairs of candidate locations "
            f"(limit {MAX_EDGE_VARIABLES:,}). Narrow the stages' search (pin `infra` to a cloud or region, fewer "
            "`any_of` entries) or make the pipeline a chain."
        )
    from skyhop.solver import highs_model

    # exact: the default 1e-4 gap can stop at a costlier placement
    model = highs_model(time_limit_s=SOLVE_TIME_LIMIT_S, mip_rel_gap=0.0)
    pick = [{loc: model.addBinary(obj=choices[s][loc].total_cost) for loc in locations[s]} for s in range(len(choices))]
    for stage_vars in pick:
        model.addConstr(sum(stage_vars.values()) == 1)
    for up, down in pipeline.edges:
        flow = {
            (a, b): model.addVariable(lb=0.0, ub=1.0, obj=edge_cost(pipeline, up, a, b, prices))
            for a in locations[up]
            for b in locations[down]
        }
        for a in locations[up]:
            model.addConstr(sum(flow[(a, b)] for b in locations[down]) == pick[up][a])
        for b in locations[down]:
            model.addConstr(sum(flow[(a, b)] for a in locations[up]) == pick[down][b])
    model.run()
    status = model.modelStatusToString(model.getModelStatus())
    if status != "Optimal":
        hint = " Narrow the stages' search (pin `infra`, fewer `any_of` entries)." if "limit" in status.lower() else ""
        raise InfeasibleError(f"The pipeline placement problem has no solution ({status}).{hint}")
    return [max(stage_vars, key=lambda loc: model.val(stage_vars[loc])) for stage_vars in pick]


def placement_cost(pipeline: Pipeline, choices: list[StageChoices], placement: list[Location], prices: Mapping[str, EgressPrice]) -> tuple[float, float]:
    """(compute incl. input egress, inter-stage transfer) of a placement."""
    compute = sum(choices[s][loc].total_cost for s, loc in enumerate(placement))
    transfer = sum(edge_cost(pipeline, up, placement[up], placement[down], prices) for up, down in pipeline.edges)
    return compute, transfer


def optimize_pipeline(pipeline: Pipeline, catalog: Catalog, scope: Scope, *, method: str | None = None) -> PipelinePlan:
    """Plans for every stage minimizing total cost; `method` forces "chain-dp" or "ilp"."""
    if method not in (None, "chain-dp", "ilp"):
        raise ValueError(f"Unknown placement method {method!r}; use 'chain-dp' or 'ilp'.")
    if method == "chain-dp" and not pipeline.is_chain:
        raise ValueError("method='chain-dp' only places a chain (edges i -> i+1); use 'ilp' for this pipeline.")
    if len(pipeline.tasks) == 1:
        plan = optimize_task(pipeline.tasks[0], catalog, scope)
        return PipelinePlan(pipeline.name, (plan,), 0.0, "single")
    found = []
    for index, task in enumerate(pipeline.tasks):
        try:
            candidates, notes = stage_candidates(task, catalog, scope, per_region=True)
        except InfeasibleError as error:
            raise InfeasibleError(f"Pipeline stage {index} ({task.name or 'unnamed'}): {error}") from None
        found.append((candidates, notes))
    choices = [best_per_location(c) for c, _ in found]
    method = method or ("chain-dp" if pipeline.is_chain else "ilp")
    solver = solve_chain if method == "chain-dp" else solve_dag
    placement = solver(pipeline, choices, scope.egress_prices)
    _, transfer = placement_cost(pipeline, choices, placement, scope.egress_prices)
    plans = []
    for index, (task, (candidates, notes)) in enumerate(zip(pipeline.tasks, found)):
        chosen = choices[index][placement[index]]
        table = best_per_group(candidates, scope.existing)
        if chosen not in table:
            table = [chosen] + table
        plans.append(Plan(task.name, chosen, tuple(table), considered_clouds(task, scope), tuple(notes)))
    return PipelinePlan(pipeline.name, tuple(plans), transfer, method)
