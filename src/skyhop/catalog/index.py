"""`Catalog`: offers indexed by (accelerator, count, spot) and cloud, cheapest first.

The optimizer asks "cheapest offers of H100:8, on-demand, per cloud"; this
index answers with pre-sorted lists so a request touches only the rows of its
own shape and usually stops at the first one that fits.
"""

from __future__ import annotations

from collections import defaultdict
from operator import itemgetter
from typing import Iterable, Iterator

from skyhop.catalog.offer import Offer
from skyhop.spec.accelerators import accelerator_key

CPU_ONLY = ""  # accelerator key of machines without accelerators

GroupKey = tuple  # (accelerator key, count, spot)


def _sort_key(offer: Offer, spot: bool) -> tuple:
    return (offer.hourly(spot), offer.region, offer.zone or "", offer.instance_type)


def _fields(*names: str) -> itemgetter:
    return itemgetter(*(Offer._fields.index(name) for name in names))


# `_sort_key` with the key built in C: a Python key function per offer was
# most of the index build on a 100k catalog.
_FAST_SORT_KEY = {False: _fields("price", "region", "zone", "instance_type"), True: _fields("spot_price", "region", "zone", "instance_type")}


def _sorted_cheapest_first(offers: list[Offer], spot: bool) -> list[Offer]:
    """`sorted(offers, key=lambda o: _sort_key(o, spot))`, faster."""
    try:
        return sorted(offers, key=_FAST_SORT_KEY[spot])
    except TypeError:  # zones blank on some rows only: None and str do not compare
        return sorted(offers, key=lambda o: _sort_key(o, spot))


class Catalog:
    """An immutable set of offers with lookup indexes built once."""

    def __init__(self, offers: Iterable[Offer]) -> None:
        self.offers: tuple[Offer, ...] = tuple(offers)
        groups: dict[GroupKey, dict[str, list[Offer]]] = defaultdict(lambda: defaultdict(list))
        names: dict[str, str] = {}
        counts: dict[str, set[float]] = defaultdict(set)
        clouds: set[str] = set()
        by_type: dict[str, list[Offer]] = defaultdict(list)
        for offer in self.offers:
            by_type[offer.instance_type].append(offer)
            key = accelerator_key(offer.accelerator) if offer.accelerator else CPU_ONLY
            if offer.accelerator:
                names.setdefault(key, offer.accelerator)
                counts[key].add(offer.accelerator_count)
            clouds.add(offer.cloud)
            if offer.price is not None:
                groups[(key, offer.accelerator_count, False)][offer.cloud].append(offer)
            if offer.spot_price is not None:
                groups[(key, offer.accelerator_count, True)][offer.cloud].append(offer)
        self._groups = {
            (key, count, spot): {cloud: _sorted_cheapest_first(offers, spot) for cloud, offers in by_cloud.items()}
            for (key, count, spot), by_cloud in groups.items()
        }
        self._names = names
        self._counts = {k: sorted(v) for k, v in counts.items()}
        self.clouds: frozenset[str] = frozenset(clouds)
        self._by_type = dict(by_type)

    def __len__(self) -> int:
        return len(self.offers)

    def merged(self, extra: Iterable[Offer]) -> "Catalog":
        """A catalog with more offers (providers add theirs, e.g. SSH pools)."""
        return Catalog(self.offers + tuple(extra))

    def cheapest_first(self, accelerator: str | None, count: float, spot: bool, cloud: str) -> list[Offer]:
        """Offers of exactly this shape on one cloud, cheapest first."""
        key = accelerator_key(accelerator) if accelerator else CPU_ONLY
        return self._groups.get((key, float(count) if accelerator else 0.0, spot), {}).get(cloud, [])

    def of_instance_type(self, instance_type: str, spot: bool, cloud: str) -> list[Offer]:
        """Offers of one instance type on one cloud with a price of that kind, cheapest first."""
        offers = [o for o in self._by_type.get(instance_type, ()) if o.cloud == cloud and o.hourly(spot) is not None]
        return sorted(offers, key=lambda o: _sort_key(o, spot))

    def instance_types(self) -> list[str]:
        return sorted(self._by_type)

    def clouds_with(self, accelerator: str | None, count: float, spot: bool) -> list[str]:
        key = accelerator_key(accelerator) if accelerator else CPU_ONLY
        return sorted(self._groups.get((key, float(count) if accelerator else 0.0, spot), {}))

    def has_accelerator(self, name: str) -> bool:
        return accelerator_key(name) in self._names

    def accelerator_names(self) -> list[str]:
        return sorted(self._names.values(), key=str.lower)

    def accelerator_counts(self, name: str) -> list[float]:
        """Counts per node that exist for this accelerator, ascending."""
        return self._counts.get(accelerator_key(name), [])

    def offers_of(self, name: str | None) -> Iterator[Offer]:
        """Every offer carrying this accelerator (or CPU-only ones for None)."""
        key = accelerator_key(name) if name else CPU_ONLY
        seen: set[int] = set()
        for (group_key, _, _), by_cloud in self._groups.items():
            if group_key != key:
                continue
            for offers in by_cloud.values():
                for offer in offers:
                    if id(offer) not in seen:
                        seen.add(id(offer))
                        yield offer
