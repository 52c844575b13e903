"""SpotHedge in the real serve controller (issue 12, "Spot hedging"): `spot_placer: dynamic_fallback` spreads a
spot service's replicas over zones, steers them away from a zone out of capacity and from a zone that just
preempted, and on-demand fallback replicas cover for spot ones until those are READY.

Real parts: the CLI, the API server with its serve controller, the load balancer process, and replica clusters
of the test plugin's `shadeform` (tests/providers/plugin_pkg: catalog offers, nodes as directories on this
machine, capacity errors scripted per zone in `catalogcloud.json`, `skyhop chaos preempt`). Its catalog here is
one region with four zones whose spot prices order them a < b < c < d; zone a has no capacity.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest
from e2e.conftest import sky  # noqa: F401  (the real CLI and its auto-started server, per test)
from e2e_support import wait_for
from providers.conftest import plugin_site  # noqa: F401  (the installed test plugin)

from serve.serve_e2e import REPLICA_APP, show_logs

pytestmark = pytest.mark.slow

FAST = (
    "jobs:\n  controller_tick_seconds: 0.2\n"
    "serve:\n  probe_seconds: 0.3\n  decision_seconds: 0.5\n  drain_seconds: 2\n  probe_failure_seconds: 2\n"
)
ZONES = ("lab-east-a", "lab-east-b", "lab-east-c", "lab-east-d")
# On-demand is cheapest in zone d, so the fallback replicas never meet zone a's scripted failure.
CATALOG = "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,Region,AvailabilityZone,GpuInfo,SpotPrice\n" + "".join(
    f"lab-cpu-2,,,2,4,{0.43 - i / 100:.2f},lab-east,{zone},,{0.10 + i / 100:.2f}\n" for i, zone in enumerate(ZONES)
)
SERVICE = """\
name: hedge
workdir: {workdir}
resources:
  infra: shadeform
  cpus: 2
  use_spot: true
run: exec python3 lb_replica.py $SKYHOP_SERVE_PORT $SKYPILOT_SERVE_REPLICA_ID
service:
  readiness_probe:
    path: /id
    initial_delay_seconds: 60
  replica_policy:
    min_replicas: 2
    max_replicas: 2
    num_overprovision: 1
    dynamic_ondemand_fallback: true
    spot_placer: dynamic_fallback
"""


def _zone(name: str) -> str:
    return f"shadeform/lab-east/{name}"


@pytest.fixture
def hedge(sky, plugin_site, tmp_path):  # noqa: F811
    catalog = tmp_path / "catalog"
    (catalog / "shadeform").mkdir(parents=True)
    (catalog / "shadeform" / "vms.csv").write_text(CATALOG)
    sky.skyhop_home.mkdir(mode=0o700, exist_ok=True)
    (sky.skyhop_home / "config.yaml").write_text(FAST)
    (sky.skyhop_home / "catalogcloud.json").write_text(json.dumps({_zone("lab-east-a"): "capacity"}))
    sky.env.update(PYTHONPATH=str(plugin_site), SKYHOP_CATALOG_DIR=str(catalog))
    workdir = tmp_path / "app"
    workdir.mkdir()
    shutil.copy(REPLICA_APP, workdir)
    sky.task("hedge.yaml", SERVICE.format(workdir=workdir))
    yield sky
    sky("serve", "down", "-a", "-y", timeout=120)


def _replicas(sky) -> list[dict]:  # noqa: F811
    return sky.json("serve", "status", "hedge")[0]["replicas"]


def _log(sky) -> str:  # noqa: F811
    return sky("serve", "logs", "hedge", "--controller", "--no-follow", check=True).out


def _settled(sky, seen_ondemand: set[int]):  # noqa: F811
    """The replicas once three spot ones are READY and nothing else is left; notes every on-demand one seen meanwhile."""
    replicas = _replicas(sky)
    seen_ondemand.update(r["replica_id"] for r in replicas if not r["use_spot"])
    spot = [r for r in replicas if r["use_spot"] and r["status"] == "READY"]
    return replicas if len(spot) == 3 == len(replicas) else None


def test_spot_replicas_spread_over_zones_avoid_full_and_preempted_zones_with_on_demand_cover(hedge):
    try:
        _scenario(hedge)
    except BaseException:
        show_logs(hedge.skyhop_home)
        raise


def _scenario(sky) -> None:  # noqa: F811
    sky("serve", "up", "-y", "-n", "hedge", str(sky.cwd / "hedge.yaml"), check=True)

    # Three spot replicas (2 + 1 overprovisioned), one per zone; zone a refused its launch, so it is not among them.
    seen_ondemand: set[int] = set()
    replicas = wait_for(lambda: _settled(sky, seen_ondemand), 120, "three READY spot replicas and nothing else")
    assert sorted(r["infra"] for r in replicas) == [_zone(z) for z in ZONES[1:]], replicas
    # On-demand replicas covered while spot ones were not READY, and went away once they were.
    assert seen_ondemand, "no on-demand fallback replica was ever listed"
    log = _log(sky)
    assert f"Replica 1: spot in zone {_zone('lab-east-a')} (placer: active {', '.join(_zone(z) for z in ZONES)})." in log, log
    assert f"no spot capacity in zone {_zone('lab-east-a')}, which the placer now avoids" in log, log
    failed_at = log.index("no spot capacity in zone")
    later = re.findall(r"Replica \d+: spot in zone (\S+) \(placer: active ([^;)]*)(?:; preempting ([^)]*))?\)", log[failed_at:])
    assert later and all(zone != _zone("lab-east-a") and preempting == _zone("lab-east-a") for zone, _, preempting in later), later
    for replica in seen_ondemand:
        assert f"Replica {replica}: launching" in log and f"Replica {replica} removed." in log, log

    # A preempted replica's zone (b) is avoided for its replacement, which goes to the cheaper of c and d.
    in_b = next(r for r in replicas if r["zone"] == "lab-east-b")
    sky("chaos", "preempt", in_b["cluster"], check=True)
    replicas = wait_for(lambda: (r := _settled(sky, seen_ondemand)) and in_b["replica_id"] not in {x["replica_id"] for x in r} and r, 120,
                        "the preempted replica replaced")
    assert sorted(r["zone"] for r in replicas) == ["lab-east-c", "lab-east-c", "lab-east-d"], replicas
    log = _log(sky)
    assert f"Replica {in_b['replica_id']} was preempted or lost" in log, log
    replacement = max(r["replica_id"] for r in replicas)
    expected = f"active {_zone('lab-east-c')}, {_zone('lab-east-d')}; preempting {_zone('lab-east-a')}, {_zone('lab-east-b')}"
    assert f"Replica {replacement}: spot in zone {_zone('lab-east-c')} (placer: {expected})." in log, log
