"""The serve controller's spot zones: listed by the planning layer (the test plugin's `shadeform`, a four-zone
catalog), and the placement it keeps per service run (which zone each spot replica took, what the placer hears)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from providers.conftest import plugin_site  # noqa: F401  (the installed test plugin)
from providers.test_catalog_plugin import plugins_in_process  # noqa: F401

from serve.test_serve_spot import CATALOG, ZONES
from skyhop.planning.failover import Attempt, FailoverError
from skyhop.serve import spot_zones
from skyhop.serve.spot_zones import SpotPlacement, SpotZone
from skyhop.spec.infra import Infra
from skyhop.spec.task import Task


@pytest.fixture
def four_zones(isolated_home, plugins_in_process, tmp_path, monkeypatch):  # noqa: F811
    catalog = tmp_path / "catalog"
    (catalog / "shadeform").mkdir(parents=True)
    (catalog / "shadeform" / "vms.csv").write_text(CATALOG)
    monkeypatch.setenv("SKYHOP_CATALOG_DIR", str(catalog))
    (isolated_home / ".skyhop").mkdir(exist_ok=True)
    (isolated_home / ".skyhop" / "catalogcloud.json").write_text(json.dumps({}))


def _task(**resources) -> Task:
    return Task.from_dict({"resources": {"infra": "shadeform", "cpus": 2, **resources}, "run": "true", "service": {"replicas": 2}})


def test_zones_are_every_place_the_spot_resources_plan_to_cheapest_first(four_zones) -> None:
    zones = spot_zones.spot_zones(_task(use_spot=True))
    assert [(z.name, z.price) for z in zones] == [(f"shadeform/lab-east/{z}", p) for z, p in zip(ZONES, (0.10, 0.11, 0.12, 0.13))]
    assert [z.name for z in spot_zones.spot_zones(_task(use_spot=True), limit=2)] == ["shadeform/lab-east/lab-east-a", "shadeform/lab-east/lab-east-b"]
    # The task's own pins and limits hold: a zone pin leaves that zone, a price cap the zones under it, a size none.
    assert [z.name for z in spot_zones.spot_zones(_task(use_spot=True, infra="shadeform/lab-east/lab-east-c"))] == ["shadeform/lab-east/lab-east-c"]
    assert len(spot_zones.spot_zones(_task(use_spot=True, max_hourly_cost=0.115))) == 2
    assert spot_zones.spot_zones(_task(use_spot=True, cpus=64)) == ()


@dataclass(frozen=True)
class _Row:
    replica_id: int
    status: str = "READY"
    use_spot: bool = True
    cluster: str = ""


ABCD = [SpotZone(Infra("c1", "r", z), p) for z, p in (("a", 1.0), ("b", 2.0), ("c", 3.0), ("d", 4.0))]


def test_placement_spreads_over_alive_spot_replicas_and_hears_preemptions_and_ready() -> None:
    placement = SpotPlacement.of(1, ABCD)
    assert placement is not None
    pin, why = placement.choose(1, [_Row(1, "PENDING")])
    assert pin == Infra("c1", "r", "a") and why == "spot in zone c1/r/a (placer: active c1/r/a, c1/r/b, c1/r/c, c1/r/d)"
    assert placement.choose(2, [_Row(1, "PENDING"), _Row(2, "PENDING")])[0].zone == "b"
    # A dead replica (row kept for display) and an on-demand one hold no zone: a is free again.
    rows = [_Row(1, "FAILED"), _Row(2), _Row(3, "PENDING"), _Row(4, use_spot=False)]
    assert placement.choose(3, rows)[0].zone == "a"
    assert placement.preempted(3) == "c1/r/a" and placement.preempted(3) is None  # heard once; the replica is gone from the zone
    assert placement.preempted(2) == "c1/r/b"
    _, why = placement.choose(5, [_Row(5, "PENDING")])
    assert why == "spot in zone c1/r/c (placer: active c1/r/c, c1/r/d; preempting c1/r/a, c1/r/b)"
    placement.choose(6, [_Row(5, "PENDING"), _Row(6, "PENDING")])
    placement.ready(6)  # d was never preempting: nothing changes
    assert placement.placer.preempting == {"c1/r/a", "c1/r/b"}
    # One more preemption would leave one active zone: all return (the placer's rule).
    assert placement.preempted(5) == "c1/r/c" and placement.placer.preempting == frozenset()
    assert SpotPlacement.of(1, []) is None


def test_a_rebuilt_placement_reads_the_zones_of_replicas_already_up(four_zones) -> None:
    @dataclass(frozen=True)
    class Cluster:
        provider: str
        region: str
        zone: str

    clusters = {"up-1": Cluster("shadeform", "lab-east", "lab-east-a"), "up-2": Cluster("shadeform", "lab-east", "lab-east-b")}

    class Store:
        def get_cluster(self, name):
            return clusters.get(name)

    service = {"replica_policy": {"min_replicas": 2, "spot_placer": "dynamic_fallback"}}
    task = Task.from_dict({"resources": {"infra": "shadeform", "cpus": 2, "use_spot": True}, "run": "true", "service": service})
    rows = [_Row(1, cluster="up-1"), _Row(2, cluster="up-2"), _Row(3, use_spot=False, cluster="up-3"), _Row(4, "PENDING", cluster="gone")]
    placement = spot_zones.placement(task, 7, rows, Store())
    assert placement is not None and placement.version == 7
    assert placement.placed == {1: "shadeform/lab-east/lab-east-a", 2: "shadeform/lab-east/lab-east-b"}
    assert placement.choose(5, rows)[0].zone == "lab-east-c"
    # Without `spot_placer`, or on-demand resources, the optimizer places replicas.
    assert spot_zones.placement(_task(use_spot=True), 7, rows, Store()) is None
    plain = Task.from_dict({**task.to_dict(), "resources": {"infra": "shadeform", "cpus": 2}})
    assert spot_zones.placement(plain, 7, rows, Store()) is None


def test_only_a_zone_out_of_capacity_counts_as_a_preemption() -> None:
    def failed(scope: str) -> Attempt:
        return Attempt("c1/r/a", "1x t", 1.0, "failed", "full", None, "t", scope)

    assert spot_zones.out_of_capacity(FailoverError([failed("zone")], "nothing left"))
    assert spot_zones.out_of_capacity(FailoverError([failed("region"), failed("instance")], "nothing left"))
    assert not spot_zones.out_of_capacity(FailoverError([failed("region"), failed("cloud")], "nothing left"))
    assert not spot_zones.out_of_capacity(RuntimeError("zone"))
