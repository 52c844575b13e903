"""Ties on price are broken by (cloud, region, zone, instance_type), so plans are deterministic."""

from __future__ import annotations

import random

import pytest

from skyhop.catalog.index import Catalog
from skyhop.catalog.offer import Offer
from skyhop.optimizer.scope import Scope
from skyhop.optimizer.search import optimize_task
from skyhop.spec.task import Task


def l4(cloud: str, region: str, zone: str | None, instance_type: str, price: float) -> Offer:
    return Offer(cloud, instance_type, "L4", 1.0, 8.0, 32.0, region, zone, price, None, None)


TIED = [
    # Region order alone would put lambda first; cloud order must win.
    l4("lambda", "aa-east-1", None, "gpu_1x_l4", 1.0),
    l4("aws", "zz-west-9", "zz-west-9b", "g6.xlarge", 1.0),
    l4("aws", "zz-west-9", "zz-west-9a", "g6.xlarge", 1.0),
    l4("aws", "zz-west-9", "zz-west-9a", "g6.2xlarge", 1.0),
    l4("aws", "zz-west-9", "zz-west-9a", "g6.4xlarge", 1.0),
    l4("gcp", "aa-central1", "aa-central1-a", "g2-standard-4", 1.0),
    l4("gcp", "aa-central1", "aa-central1-a", "g2-standard-8", 1.5),
]


@pytest.mark.parametrize("seed", range(5))
def test_tie_break_order_does_not_depend_on_input_order(seed):
    offers = list(TIED)
    random.Random(seed).shuffle(offers)
    catalog = Catalog(offers)
    plan = optimize_task(Task.from_dict({"resources": {"accelerators": "L4:1"}}), catalog, Scope(sorted(catalog.clouds)))
    chosen = plan.chosen.offer
    # cloud first (aws), then region, then zone (9a before 9b), then instance type.
    assert (chosen.cloud, chosen.region, chosen.zone, chosen.instance_type) == ("aws", "zz-west-9", "zz-west-9a", "g6.2xlarge")
    assert [c.offer.cloud for c in plan.candidates] == ["aws", "gcp", "lambda"]
    gcp = plan.candidates[1].offer
    assert gcp.instance_type == "g2-standard-4"


def test_a_cheaper_offer_beats_every_tie_break():
    catalog = Catalog(TIED + [l4("zzz", "zz", None, "last-by-name", 0.99)])
    plan = optimize_task(Task.from_dict({"resources": {"accelerators": "L4:1"}}), catalog, Scope(sorted(catalog.clouds)))
    assert plan.chosen.offer.instance_type == "last-by-name"


def test_ties_are_broken_on_the_cluster_cost_not_the_node_price():
    # Same per-node price everywhere: node count does not change the order.
    catalog = Catalog(TIED)
    plan = optimize_task(Task.from_dict({"num_nodes": 3, "resources": {"accelerators": "L4:1"}}), catalog, Scope(sorted(catalog.clouds), hours=7))
    assert plan.chosen.offer.instance_type == "g6.2xlarge"
    assert plan.chosen.total_cost == pytest.approx(21.0)
