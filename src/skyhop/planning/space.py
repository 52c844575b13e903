"""The search space: which infra a plan may use, from credentials, capabilities and config.

Built once per launch; failover plans again inside the same space with a
growing blocked set (`planning.plan`), so catalogs and checks are not redone
per attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Collection, Mapping

from skyhop.errors import SkyhopError
from skyhop.optimizer.scope import Scope
from skyhop.planning.infra import Infra, survey
from skyhop.providers.base import OfferLister, OfferSource

if TYPE_CHECKING:
    from skyhop.catalog.index import Catalog


@dataclass(frozen=True)
class SearchSpace:
    """The catalog to search (live and existing offers merged in), the optimizer's scope, and notes on why."""

    catalog: "Catalog"
    scope: Scope
    notes: tuple[str, ...]
    # Only opt-in infra (this machine) was searched because no cloud is enabled: infeasibility says so.
    only_opt_in: bool = False


def load_catalog(clouds: Collection[str] | None = None, *, refresh: bool = False):  # -> Catalog
    """The price catalog for `clouds` (None = all), see `skyhop.catalog.source`; built once per
    process while its files are unchanged (the API server plans many times)."""
    from skyhop.catalog.load import shared_catalog

    return shared_catalog(clouds, refresh=refresh)


def search_space(
    tasks,
    *,
    all_clouds: bool = False,
    catalog=None,
    hours: float = 1.0,
    egress_prices: Mapping[str, object] | None = None,
) -> SearchSpace:
    """Every cloud in the catalog (`all_clouds`), or the usable infra: enabled clouds and providers."""
    if not hours > 0:
        raise SkyhopError(f"The estimated run time must be positive, got {hours} hours.")
    prices = _egress_prices(egress_prices)
    if all_clouds:
        catalog = catalog if catalog is not None else load_catalog()
        return SearchSpace(catalog, Scope(tuple(catalog.clouds), (), float(hours), prices, True), ())
    infra = survey()
    _refuse_disabled_pins(tasks, {n: i for n, i in infra.items() if i.has_provider and not i.check.enabled})
    enabled = {n: i for n, i in infra.items() if i.check.enabled}
    regular = sorted(n for n, i in enabled.items() if not i.capabilities.opt_in)
    chosen = set(regular)
    notes = []
    for name in sorted(set(enabled) - set(regular)):
        joins, why = _opt_in_rule(name, tasks, regular)
        notes.append(why)
        if joins:
            chosen.add(name)
    source = {n: enabled[n].capabilities.offers for n in chosen}
    if catalog is None:
        from skyhop.catalog.index import Catalog

        priced = sorted(n for n in chosen if source[n] is OfferSource.CATALOG)
        catalog = load_catalog(priced) if priced else Catalog(())
    listed = sorted(n for n in chosen if source[n] is not OfferSource.CATALOG)
    if listed:
        catalog = catalog.merged([offer for name in listed for offer in _listed_offers(name, source[name])])
    clouds = {n for n in chosen if n in catalog.clouds or enabled[n].has_provider}
    existing = {n for n in chosen if source[n] is OfferSource.EXISTING}
    # What each provider honours (its features, spot, max nodes): a task asking more goes elsewhere.
    honoured = {n: enabled[n].capabilities for n in clouds}
    scope = Scope(tuple(clouds), (), float(hours), prices, False, frozenset(existing), honoured)
    return SearchSpace(catalog, scope, tuple(notes), only_opt_in=not regular)


def own_offers(name: str) -> list | None:
    """The offers of a provider that lists its own (this machine, SSH pools, live clouds); None for a catalog-priced one."""
    from skyhop.providers import registry

    source = registry.capabilities(name).offers
    return None if source is OfferSource.CATALOG else _listed_offers(name, source)


def _listed_offers(name: str, source: OfferSource) -> list:
    """Offers a LIVE or EXISTING provider lists itself."""
    from skyhop.providers import registry

    provider = registry.get(name)
    if not isinstance(provider, OfferLister):
        raise SkyhopError(f"The provider '{name}' declares {source.value} offers but cannot list them (it has no offers()).")
    return list(provider.offers())


def _opt_in_rule(name: str, tasks, regular: Collection[str]) -> tuple[bool, str]:
    """Whether opt-in infra (this machine) joins the search, and the sentence that says why (shown in the plan).

    A user with cloud credentials is never surprised by a job on their laptop:
    it is searched only when a task names it, when nothing else is enabled,
    or when config.yaml sets `infra: {NAME: true}`.
    """
    from skyhop.config import load_config

    if any(r.infra is not None and r.infra.cloud == name for t in tasks for tier in t.resources.expand() for r in tier):
        return True, f"{name}: considered because the task names it (infra: {name})."
    if not regular:
        return True, f"{name}: considered because no cloud is enabled (see `skyhop check`)."
    if (load_config().get("infra") or {}).get(name) is True:
        return True, f"{name}: considered because config.yaml sets infra.{name}: true."
    return False, f"{name}: not considered, because clouds are enabled; name it (--infra {name}) or set infra.{name}: true in config.yaml."


def _refuse_disabled_pins(tasks, disabled: Mapping[str, Infra]) -> None:
    """A task pinned to infra a provider runs (pools, plugins) that is not usable: say why, not "no offer"."""
    for task in tasks:
        for tier in task.resources.expand():
            for request in tier:
                name = request.infra.cloud if request.infra else None
                if name is not None and name in disabled:
                    raise SkyhopError(f"infra: {name} is not usable here: {disabled[name].check.reason}.")


def _egress_prices(overrides: Mapping[str, object] | None):
    from skyhop.config import load_config
    from skyhop.optimizer.egress import parse_prices

    configured = (load_config().get("optimizer") or {}).get("egress_prices") or {}
    return parse_prices({**configured, **(overrides or {})})
