"""Cloud resources that carry this installation's marks but belong to no cluster it knows.

They come from a crash between a cloud call and the record of what it made,
a record removed by hand, or a `down --purge` while the cloud was
unreachable, and they bill until someone removes them. Every provider that is
an `OwnedLister` lists what carries its marks (`providers/_owned.py`: only
this installation's); what names a cluster the state store does not hold,
and that no operation is working on now (a launch writes its record before
the cloud call, so a cluster being made is never an orphan), is listed by
`status --refresh` and removed by `down --orphans` after confirmation. A long cluster name is cut in resource
names, so a resource whose name may stand for a known cluster is never an
orphan (`_owned.may_name`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from skyhop.errors import SkyhopError
from skyhop.execution.locks import is_busy
from skyhop.providers import _owned
from skyhop.providers.base import OwnedLister, OwnedResource

log = logging.getLogger("skyhop.orphans")


@dataclass(frozen=True)
class Orphan:
    provider: str
    resource: OwnedResource

    @property
    def key(self) -> str:
        """What a user confirms and the removal request names: `provider:kind:id`."""
        return f"{self.provider}:{self.resource.kind}:{self.resource.id}"

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "provider": self.provider, **asdict(self.resource)}


@dataclass(frozen=True)
class Survey:
    orphans: tuple[Orphan, ...]
    unchecked: tuple[tuple[str, str], ...]  # (provider, why it could not be listed)

    def to_json(self) -> dict[str, Any]:
        return {"orphans": [o.to_json() for o in self.orphans], "unchecked": [{"provider": p, "reason": r} for p, r in self.unchecked]}


def _listers() -> list[tuple[str, OwnedLister]]:
    """Providers that list their marked resources and are set up here (a cloud without credentials has none of ours to list)."""
    from skyhop.planning.infra import survey
    from skyhop.providers import registry

    out: list[tuple[str, OwnedLister]] = []
    for name, infra in survey().items():
        if not infra.has_provider or not infra.check.enabled:
            continue
        provider = registry.get(name)
        if isinstance(provider, OwnedLister):
            out.append((name, provider))
    return out


def find(store) -> Survey:
    """Every orphan of every provider set up here; a provider that cannot list says why instead of hiding the rest."""
    from skyhop.parallel import each

    listers = _listers()

    def listed(item: tuple[str, OwnedLister]) -> tuple[str, list[OwnedResource] | str]:
        name, provider = item
        try:
            return name, list(provider.owned())
        except SkyhopError as error:
            return name, str(error)

    orphans: list[Orphan] = []
    unchecked: list[tuple[str, str]] = []
    answers = each(listers, listed)
    clusters = [record.name for record in store.list_clusters()]  # read after listing: a launch records before it creates
    known: dict[str, bool] = {}
    for name, answer in answers:
        if isinstance(answer, str):
            unchecked.append((name, answer))
            continue
        for resource in answer:
            if resource.cluster not in known:
                known[resource.cluster] = is_busy(resource.cluster) or any(_owned.may_name(resource.cluster, c) for c in clusters)
            if not known[resource.cluster]:
                orphans.append(Orphan(name, resource))
    orphans.sort(key=lambda o: (o.provider, o.resource.cluster, o.resource.kind, o.resource.id))
    return Survey(tuple(orphans), tuple(unchecked))


def remove(store, keys: list[str], progress) -> dict[str, Any]:
    """Remove the orphans named by `keys` that are still orphans now (listed again: a cluster may have claimed them since)."""
    current = {o.key: o for o in find(store).orphans}
    chosen = [current[k] for k in keys if k in current]
    skipped = [k for k in keys if k not in current]
    by_provider: dict[str, list[OwnedResource]] = {}
    for orphan in chosen:
        by_provider.setdefault(orphan.provider, []).append(orphan.resource)
    from skyhop.providers import registry

    for name, resources in sorted(by_provider.items()):
        provider = registry.get(name)
        assert isinstance(provider, OwnedLister)
        progress.info(f"Removing {len(resources)} resource(s) on {name}: " + ", ".join(f"{r.kind} {r.id}" for r in resources))
        provider.remove_owned(resources)
    if skipped:
        progress.info(f"Not removed (no longer orphans, or gone): {', '.join(skipped)}")
    return {"removed": [o.key for o in chosen], "skipped": skipped}
