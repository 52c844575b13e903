"""The Python SDK: the verbs the CLI is a thin layer over.

These are pure computations over the catalog (no state, no machines), so the
CLI and the API server both call them in-process; verbs that touch clusters
go through the API server (`skyhop.client`).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Collection, Iterator, Mapping

from skyhop.errors import SkyhopError


def load_catalog(clouds: Collection[str] | None = None, *, refresh: bool = False):  # -> Catalog
    """The price catalog for `clouds` (None = all), see `skyhop.catalog.source`."""
    from skyhop.catalog.load import load_catalog as _load

    return _load(clouds, refresh=refresh)


def check():  # -> list[CheckResult]
    """Every provider skyhop knows and whether it is enabled here: clouds, local, plugins."""
    from skyhop.providers import registry
    from skyhop.providers.credentials import check_all

    results = {r.name: r for r in check_all()}
    for name in registry.names():
        try:
            results[name] = registry.get(name).check()
        except SkyhopError as error:
            from skyhop.providers.credentials import CheckResult

            results[name] = CheckResult(name, False, str(error))
    return [results[name] for name in sorted(results)]


def enabled_clouds() -> list[str]:
    """Enabled infra other than `local`, which joins a search by its own rule (`_local_rule`)."""
    return [result.name for result in check() if result.enabled and result.name != "local"]


def _local_rule(tasks, enabled: Collection[str]) -> tuple[bool, str]:
    """Whether this machine joins the search, and the sentence that says why (shown in the plan).

    A user with cloud credentials is never surprised by a job on their laptop:
    local is searched only when a task names it, when nothing else is enabled,
    or when config.yaml sets `infra: {local: true}`.
    """
    from skyhop.config import load_config

    named = any(r.infra is not None and r.infra.cloud == "local" for t in tasks for tier in t.resources.expand() for r in tier)
    if named:
        return True, "local: considered because the task names it (infra: local)."
    if not enabled:
        return True, "local: considered because no cloud is enabled (see `skyhop check`)."
    opted = (load_config().get("infra") or {}).get("local")
    if opted is True:
        return True, "local: considered because config.yaml sets infra.local: true."
    return False, "local: not considered, because clouds are enabled; name it (--infra local) or set infra.local: true in config.yaml."


def _egress_prices(overrides: Mapping[str, object] | None):
    from skyhop.config import load_config
    from skyhop.optimizer.egress import parse_prices

    configured = (load_config().get("optimizer") or {}).get("egress_prices") or {}
    return parse_prices({**configured, **(overrides or {})})


def _search(tasks, all_clouds: bool, catalog, blocked: Collection, hours: float, egress_prices: Mapping[str, object] | None):  # -> (Catalog, Scope, notes)
    """The catalog to search, the optimizer's scope (every cloud, or the enabled ones) and notes on why."""
    from skyhop.catalog.index import Catalog
    from skyhop.optimizer.scope import Scope
    from skyhop.providers import registry

    if not hours > 0:
        raise SkyhopError(f"The estimated run time must be positive, got {hours} hours.")
    notes: list[str] = []
    extra = []
    if all_clouds:
        catalog = catalog if catalog is not None else load_catalog()
        clouds = set(catalog.clouds)
    else:
        results = check()
        enabled = [r.name for r in results if r.enabled and r.name != "local"]
        _refuse_disabled_pins(tasks, {r.name: r for r in results if not r.enabled and r.name in registry.names()})
        use_local, why = _local_rule(tasks, enabled)
        notes.append(why)
        priced = [c for c in enabled if c not in registry.names()]
        if catalog is None:
            catalog = load_catalog(priced) if priced else Catalog(())
        clouds = set(enabled) & (set(catalog.clouds) | set(registry.names()))
        for name in sorted(clouds & set(registry.names())):
            extra.extend(registry.get(name).offers())
        if use_local:
            clouds.add("local")
            extra.extend(registry.get("local").offers())
    if extra:
        catalog = catalog.merged(extra)
    scope = Scope(tuple(clouds), tuple(blocked), float(hours), _egress_prices(egress_prices), all_clouds)
    return catalog, scope, notes


def _refuse_disabled_pins(tasks, disabled: Mapping[str, object]) -> None:
    """A task pinned to infra skyhop runs itself (ssh pools, plugins) that is not usable: say why, not "no offer"."""
    for task in tasks:
        for tier in task.resources.expand():
            for request in tier:
                name = request.infra.cloud if request.infra else None
                if name in disabled:
                    raise SkyhopError(f"infra: {name} is not usable here: {disabled[name].reason}.")


@contextmanager
def _nothing_enabled_hint(scope) -> Iterator[None]:
    """When only this machine was searched because no cloud is enabled, say so in the error."""
    from skyhop.errors import InfeasibleError

    try:
        yield
    except InfeasibleError as error:
        if scope.all_clouds or set(scope.clouds) != {"local"} or enabled_clouds():
            raise
        raise InfeasibleError(f"{error} No cloud is enabled here, so only this machine was searched; see `skyhop check` to enable one.") from None


def _with_notes(plan, notes: list[str]):
    from dataclasses import replace

    return replace(plan, notes=tuple(plan.notes) + tuple(notes)) if notes else plan


def optimize(
    task,
    *,
    all_clouds: bool = False,
    blocked: Collection = (),
    hours: float = 1.0,
    catalog=None,
    egress_prices: Mapping[str, object] | None = None,
):  # -> Plan
    """The cheapest plan for `task` (a `skyhop.Task`).

    `all_clouds` searches every cloud in the catalog instead of the enabled
    ones; `blocked` is a list of `Blocked` entries to avoid; `hours` is the
    expected run time used for the estimated cost.
    """
    from skyhop.optimizer.search import optimize_task

    catalog, scope, notes = _search([task], all_clouds, catalog, blocked, hours, egress_prices)
    with _nothing_enabled_hint(scope):
        return _with_notes(optimize_task(task, catalog, scope), notes)


def optimize_pipeline(
    pipeline,
    *,
    all_clouds: bool = False,
    blocked: Collection = (),
    hours: float = 1.0,
    catalog=None,
    egress_prices: Mapping[str, object] | None = None,
    method: str | None = None,
):  # -> PipelinePlan
    """Place every stage of a `skyhop.Pipeline`, counting data moved between stages."""
    from dataclasses import replace

    from skyhop.optimizer.pipeline import optimize_pipeline as _optimize

    catalog, scope, notes = _search(pipeline.tasks, all_clouds, catalog, blocked, hours, egress_prices)
    with _nothing_enabled_hint(scope):
        plan = _optimize(pipeline, catalog, scope, method=method)
    return replace(plan, stages=tuple(_with_notes(stage, notes) for stage in plan.stages))


def show_gpus(name: str | None = None, *, infra: str | None = None, all_regions: bool = False, catalog=None) -> list:
    """Accelerators on the market: a summary per cloud, or the shapes of `name` (`H100` or `H100:8`)."""
    from skyhop.catalog import market
    from skyhop.spec.infra import Infra
    from skyhop.spec.quantities import Accelerator

    pin = Infra.parse(infra, "--infra") if infra else None
    catalog = catalog if catalog is not None else load_catalog([pin.cloud] if pin and pin.cloud else None)
    if name is None:
        return market.summarize(catalog, pin)
    count = None
    if ":" in name:
        acc = Accelerator.parse(name, "NAME")
        name, count = acc.name, float(acc.count)
    rows = market.offers_for(catalog, name, count, pin, all_regions)
    if not rows:
        from skyhop.spec.errors import did_you_mean

        if not catalog.has_accelerator(name):
            guess = did_you_mean(name, catalog.accelerator_names())
            raise SkyhopError(f"No cloud in the catalog offers '{name}'." + (f" Did you mean '{guess}'?" if guess else ""))
        where = f" on {pin}" if pin else ""
        raise SkyhopError(f"No offers of {name}{':' + str(int(count)) if count else ''}{where}; counts on offer: {', '.join(str(int(c)) for c in catalog.accelerator_counts(name))}.")
    return rows
