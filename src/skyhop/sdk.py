"""The Python SDK: the verbs the CLI is a thin layer over.

Until the API server exists (next milestone) these run in-process; they are
the single implementation the CLI calls, so the server will wrap them rather
than grow a second code path.
"""

from __future__ import annotations

from typing import Collection, Mapping

from skyhop.errors import SkyhopError


def load_catalog(clouds: Collection[str] | None = None, *, refresh: bool = False):  # -> Catalog
    """The price catalog for `clouds` (None = all), see `skyhop.catalog.source`."""
    from skyhop.catalog.load import load_catalog as _load

    return _load(clouds, refresh=refresh)


def check():  # -> list[CheckResult]
    """Every provider skyhop knows and whether it is enabled here."""
    from skyhop.providers.credentials import check_all

    return check_all()


def enabled_clouds() -> list[str]:
    return [result.name for result in check() if result.enabled]


def _egress_prices(overrides: Mapping[str, object] | None):
    from skyhop.config import load_config
    from skyhop.optimizer.egress import parse_prices

    configured = (load_config().get("optimizer") or {}).get("egress_prices") or {}
    return parse_prices({**configured, **(overrides or {})})


def _search(all_clouds: bool, catalog, blocked: Collection, hours: float, egress_prices: Mapping[str, object] | None):  # -> (Catalog, Scope)
    """The catalog to search and the optimizer's scope: every cloud, or the enabled ones."""
    from skyhop.optimizer.scope import Scope

    if not hours > 0:
        raise SkyhopError(f"The estimated run time must be positive, got {hours} hours.")
    if all_clouds:
        catalog = catalog if catalog is not None else load_catalog()
        clouds = catalog.clouds
    else:
        enabled = enabled_clouds()
        if not enabled:
            raise SkyhopError(
                "No infra is enabled: `skyhop check` found no cloud credentials on this machine. "
                "Pass --all-clouds to see where this would run across every cloud in the catalog, "
                "or set up credentials for a cloud (see `skyhop check`)."
            )
        catalog = catalog if catalog is not None else load_catalog(enabled)
        clouds = set(enabled) & set(catalog.clouds)
    scope = Scope(tuple(clouds), tuple(blocked), float(hours), _egress_prices(egress_prices), all_clouds)
    return catalog, scope


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

    task.require_envs()
    return optimize_task(task, *_search(all_clouds, catalog, blocked, hours, egress_prices))


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
    from skyhop.optimizer.pipeline import optimize_pipeline as _optimize

    for task in pipeline.tasks:
        task.require_envs()
    return _optimize(pipeline, *_search(all_clouds, catalog, blocked, hours, egress_prices), method=method)


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
