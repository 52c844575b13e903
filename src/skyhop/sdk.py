"""The Python SDK: planning verbs over the catalog and this process's credentials.

No state, no machines: they run in the calling process. The planning itself
lives in `skyhop.planning`; the API server calls these same functions to
answer `skyhop optimize` and `check` and when it launches, so the CLI's plans
are the server's (its credentials and pools). Verbs that touch clusters go
through the API server (`skyhop.client`).
"""

from __future__ import annotations

from typing import Collection, Mapping

from skyhop.errors import SkyhopError


def load_catalog(clouds: Collection[str] | None = None, *, refresh: bool = False):  # -> Catalog
    """The price catalog for `clouds` (None = all), see `skyhop.catalog.source`."""
    from skyhop.planning.space import load_catalog as _load

    return _load(clouds, refresh=refresh)


def check(*, reach_machines: bool = False):  # -> list[CheckResult]
    """Every infra skyhop knows and whether it is enabled here: clouds, local, plugins.

    `reach_machines` also reaches every existing machine (SSH pool hosts) now.
    """
    from skyhop.planning.infra import check as _check

    return _check(reach_machines=reach_machines)


def optimize(
    task,
    *,
    all_clouds: bool = False,
    blocked: Collection = (),
    hours: float = 1.0,
    catalog=None,
    egress_prices: Mapping[str, object] | None = None,
):  # -> Plan
    """The cheapest plan for `task` (a `skyhop.Task`, a task mapping or a YAML path).

    `all_clouds` searches every cloud in the catalog instead of the enabled
    ones; `blocked` is a list of `Blocked` entries to avoid; `hours` is the
    expected run time used for the estimated cost.
    """
    from skyhop.client.arguments import task as as_task
    from skyhop.planning.plan import plan_task
    from skyhop.planning.space import search_space

    task = as_task(task)
    space = search_space([task], all_clouds=all_clouds, catalog=catalog, hours=hours, egress_prices=egress_prices)
    return plan_task(task, space, blocked)


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
    from skyhop.client.arguments import pipeline as as_pipeline
    from skyhop.planning.plan import plan_pipeline
    from skyhop.planning.space import search_space

    pipeline = as_pipeline(pipeline, "pipeline")
    space = search_space(pipeline.tasks, all_clouds=all_clouds, catalog=catalog, hours=hours, egress_prices=egress_prices)
    return plan_pipeline(pipeline, space, blocked, method=method)


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
