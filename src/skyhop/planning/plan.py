"""The optimizer call inside a search space, with a blocked set (what failover ruled out)."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace
from typing import Collection, Iterator

from skyhop.planning.space import SearchSpace


def plan_task(task, space: SearchSpace, blocked: Collection = ()):  # -> Plan
    """The cheapest plan for `task` in `space`, avoiding every `Blocked` entry."""
    from skyhop.optimizer.search import optimize_task

    scope = replace(space.scope, blocked=tuple(space.scope.blocked) + tuple(blocked))
    with _nothing_enabled_hint(space):
        plan = optimize_task(task, space.catalog, scope)
    return _with_notes(plan, space.notes)


def plan_pipeline(pipeline, space: SearchSpace, blocked: Collection = (), *, method: str | None = None):  # -> PipelinePlan
    """Place every stage of a pipeline in `space`, counting data moved between stages."""
    from skyhop.optimizer.pipeline import optimize_pipeline

    scope = replace(space.scope, blocked=tuple(space.scope.blocked) + tuple(blocked))
    with _nothing_enabled_hint(space):
        plan = optimize_pipeline(pipeline, space.catalog, scope, method=method)
    return replace(plan, stages=tuple(_with_notes(stage, space.notes) for stage in plan.stages))


@contextmanager
def _nothing_enabled_hint(space: SearchSpace) -> Iterator[None]:
    """When only opt-in infra (this machine) was searched because no cloud is enabled, say so in the error."""
    from skyhop.errors import InfeasibleError

    try:
        yield
    except InfeasibleError as error:
        if not space.only_opt_in:
            raise
        searched = ", ".join(space.scope.clouds) or "nothing"
        raise InfeasibleError(f"{error} No cloud is enabled here, so only {searched} was searched; see `skyhop check` to enable one.") from None


def _with_notes(plan, notes: tuple[str, ...]):
    return replace(plan, notes=tuple(plan.notes) + notes) if notes else plan
