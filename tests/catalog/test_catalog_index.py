"""The `Catalog` index over the real shared catalogs."""

from __future__ import annotations

from collections import Counter

import pytest
import rawgcp
from helpers import SHARED_CATALOG

from skyhop.catalog.index import Catalog
from skyhop.catalog.offer import Offer


def test_the_index_holds_every_offer_once(shared_catalog):
    # 1411 priced rows in the files that price each machine in one row, and GCP's
    # machines joined with their accelerators (31739 offers from 31285 rows).
    gcp = len(rawgcp.offers(SHARED_CATALOG / "gcp" / "vms.csv"))
    assert gcp == 31739
    assert len(shared_catalog) == len(shared_catalog.offers) == 1411 + gcp
    assert shared_catalog.clouds == {
        "cudo", "daytona", "gcp", "hyperbolic", "hyperstack", "jarvislabs", "lambda", "lium", "mithril",
        "nebius", "primeintellect", "seeweb", "shadeform", "spheron", "vast", "verda", "yotta",
    }  # fmt: skip


def test_accelerator_aliases_fold_to_one_name(shared_catalog):
    names = shared_catalog.accelerator_names()
    assert "H100" in names
    assert not {"H100_SXM5", "H100-SXM", "A6000", "RTX PRO 6000 96GB"} & set(names)
    # spheron writes H100_SXM5; it is the same product as everyone else's H100.
    spheron_h100 = shared_catalog.cheapest_first("H100", 1, False, "spheron")
    assert spheron_h100 and {o.accelerator for o in spheron_h100} == {"H100"}
    assert shared_catalog.has_accelerator("h100_sxm5") and shared_catalog.has_accelerator("H100-SXM")
    assert shared_catalog.cheapest_first("H100_SXM5", 1, False, "spheron") == spheron_h100
    # ...but the PCIe card stays distinct.
    assert "H100-PCIE" in names
    assert not [o for o in shared_catalog.cheapest_first("H100", 1, False, "spheron") if "PCIE" in o.instance_type.upper()]


def test_cheapest_first_is_sorted_and_complete(shared_catalog):
    lambda_h100_8 = shared_catalog.cheapest_first("H100", 8, False, "lambda")
    expected = [o for o in shared_catalog.offers if o.cloud == "lambda" and o.accelerator == "H100" and o.accelerator_count == 8 and o.price is not None]
    assert Counter(lambda_h100_8) == Counter(expected) and len(expected) > 1
    prices = [o.price for o in lambda_h100_8]
    assert prices == sorted(prices)


def test_spot_groups_only_hold_offers_with_a_spot_price(shared_catalog):
    for cloud in shared_catalog.clouds_with("H100", 1, True):
        offers = shared_catalog.cheapest_first("H100", 1, True, cloud)
        assert offers and all(o.spot_price is not None for o in offers)
        assert [o.spot_price for o in offers] == sorted(o.spot_price for o in offers)
    assert "vast" not in shared_catalog.clouds_with("H100", 1, True)  # 0.00 placeholders
    assert "vast" in shared_catalog.clouds_with("H100", 1, False)


def test_cpu_only_machines(shared_catalog):
    cpu = shared_catalog.cheapest_first(None, 0, False, "lambda")
    assert cpu and all(o.accelerator is None for o in cpu)
    assert set(shared_catalog.offers_of(None)) == {o for o in shared_catalog.offers if o.accelerator is None}


def test_counts_and_offers_of_an_accelerator(shared_catalog):
    assert shared_catalog.accelerator_counts("H100") == sorted({o.accelerator_count for o in shared_catalog.offers if o.accelerator == "H100"})
    assert 8.0 in shared_catalog.accelerator_counts("h100")
    h200 = list(shared_catalog.offers_of("H200"))
    assert len(h200) == len(set(h200)) == sum(1 for o in shared_catalog.offers if o.accelerator == "H200")


def test_of_instance_type(shared_catalog):
    offers = shared_catalog.of_instance_type("gpu_8x_h100_sxm5", False, "lambda")
    assert offers and {o.instance_type for o in offers} == {"gpu_8x_h100_sxm5"}
    assert [o.price for o in offers] == sorted(o.price for o in offers)
    assert shared_catalog.of_instance_type("gpu_8x_h100_sxm5", False, "vast") == []
    assert "gpu_8x_h100_sxm5" in shared_catalog.instance_types()


def test_merged_adds_offers_and_leaves_the_original_alone(shared_catalog):
    extra = Offer("ssh", "pool-node", "H100", 8.0, 96.0, 1024.0, "my-pool", None, 0.01, None, 80.0)
    merged = shared_catalog.merged([extra])
    assert len(merged) == len(shared_catalog) + 1
    assert merged.cheapest_first("H100", 8, False, "ssh") == [extra]
    assert "ssh" not in shared_catalog.clouds


def test_ties_are_broken_deterministically():
    a = Offer("c", "t", "L4", 1.0, 4.0, 16.0, "r2", None, 1.0, None, 24.0)
    b = Offer("c", "t", "L4", 1.0, 4.0, 16.0, "r1", "r1-b", 1.0, None, 24.0)
    c = Offer("c", "t", "L4", 1.0, 4.0, 16.0, "r1", "r1-a", 1.0, None, 24.0)
    assert Catalog([a, b, c]).cheapest_first("L4", 1, False, "c") == [c, b, a]
    assert Catalog([c, a, b]).cheapest_first("L4", 1, False, "c") == [c, b, a]


@pytest.mark.parametrize("spelling", ["rtxa6000", "A6000", "RTX-A6000", "a6000_pcie"])
def test_user_spellings_match(shared_catalog, spelling):
    assert shared_catalog.has_accelerator(spelling)
    assert shared_catalog.clouds_with(spelling, 1, False) == shared_catalog.clouds_with("RTXA6000", 1, False)


def _reference_order(offers, spot):
    return sorted(offers, key=lambda o: (o.hourly(spot), o.region, o.zone or "", o.instance_type))


def test_group_order_is_price_then_location(shared_catalog):
    groups = 0
    for accelerator in [None, *shared_catalog.accelerator_names()]:
        counts = shared_catalog.accelerator_counts(accelerator) if accelerator else [0.0]
        for count in counts:
            for spot in (False, True):
                for cloud in shared_catalog.clouds_with(accelerator, count, spot):
                    got = shared_catalog.cheapest_first(accelerator, count, spot, cloud)
                    assert got == _reference_order(got, spot)
                    groups += 1
    assert groups > 100


def test_mixed_blank_and_set_zones_in_one_region_still_sort():
    offers = [
        Offer("c", "b", None, 0.0, 2.0, 8.0, "r1", "r1-b", 0.1, None, None),
        Offer("c", "a", None, 0.0, 2.0, 8.0, "r1", None, 0.1, None, None),
        Offer("c", "a", None, 0.0, 2.0, 8.0, "r1", "r1-a", 0.1, None, None),
        Offer("c", "a", None, 0.0, 2.0, 8.0, "r0", "r0-a", 0.2, None, None),
        Offer("c", "z", None, 0.0, 2.0, 8.0, "r0", None, 0.05, None, None),
    ]
    got = Catalog(offers).cheapest_first(None, 0, False, "c")
    assert got == _reference_order(offers, False)
    assert [(o.region, o.zone, o.instance_type) for o in got] == [
        ("r0", None, "z"), ("r1", None, "a"), ("r1", "r1-a", "a"), ("r1", "r1-b", "b"), ("r0", "r0-a", "a"),
    ]  # fmt: skip
