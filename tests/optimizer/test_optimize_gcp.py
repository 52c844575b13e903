"""Planning on GCP, whose catalog prices machines and accelerators in separate rows.

Every expected answer is the cheapest offer `rawcsv` (through `rawgcp`) derives
from gcp/vms.csv itself; the instance types named below are the ones SkyPilot
picks for these requests on that file (its default host per GPU count, the
machine type that comes with the GPU, a TPU VM).
"""

from __future__ import annotations

import pytest
from rawcsv import RawCatalog, RawRow, cheapest
from test_optimize_cli import assert_chosen, plan_json


def gcp_rows(raw: RawCatalog, name: str, count: float, *, spot: bool = False, **where) -> list[RawRow]:
    return raw.select(spellings={name}, count=count, spot=spot, cloud="gcp", **where)


@pytest.mark.parametrize(
    ("gpus", "spot", "instance_type"),
    [
        ("T4:1", False, "n1-highmem-4"),  # T4 on the smallest n1 host of SkyPilot's default size (4 vCPUs, 16+ GiB)
        ("T4:4", False, "n1-standard-64"),
        ("V100:1", True, "n1-highmem-8"),  # spot: the host's and the GPU's spot prices
        ("P100:4", False, "n1-highmem-32"),
        ("A100:8", False, "a2-highgpu-8g"),  # the machine type that comes with 8 A100s
        ("H100:8", False, "a3-highgpu-8g"),
        ("tpu-v5litepod-8", False, "TPU-VM"),  # a TPU VM, priced alone
        ("tpu-v5litepod-8", True, "TPU-VM"),
    ],
)
def test_gpu_requests_on_gcp_take_the_cheapest_joined_offer(cli, raw_catalog: RawCatalog, gpus, spot, instance_type):
    name, _, count = gpus.partition(":")
    rows = gcp_rows(raw_catalog, name, float(count or 1), spot=spot)
    if name == "H100":
        rows += gcp_rows(raw_catalog, "H100-MEGA", 8.0, spot=spot)  # the same device; skyhop folds the names
    doc = plan_json(cli, "--gpus", gpus, "--infra", "gcp", *(["--use-spot"] if spot else []))
    assert_chosen(doc, rows, spot)
    assert doc["instance_type"] == instance_type
    assert doc["accelerator_count"] == float(count or 1)


def test_the_joined_price_is_the_machine_row_plus_the_accelerator_row(cli, raw_catalog: RawCatalog):
    doc = plan_json(cli, "--gpus", "A100:8", "--infra", "gcp")
    csv_rows = raw_catalog.csv_rows("gcp")
    zone = doc["zone"]
    machine = [r for r in csv_rows if r["InstanceType"] == "a2-highgpu-8g" and r["AvailabilityZone"] == zone]
    gpu = [r for r in csv_rows if not r["InstanceType"] and r["AcceleratorName"] == "A100" and r["AcceleratorCount"] == "8" and r["AvailabilityZone"] == zone]
    assert len(machine) == len(gpu) == 1
    assert doc["hourly_price"] == pytest.approx(float(machine[0]["Price"]) + float(gpu[0]["Price"]))
    assert doc["vcpus"] == float(machine[0]["vCPUs"]) and doc["gpu_memory_gib"] == 40.0


def test_l4_in_a_pinned_region(cli, raw_catalog: RawCatalog):
    regions = sorted({r.region for r in gcp_rows(raw_catalog, "L4", 1.0)})
    region = "us-west1" if "us-west1" in regions else regions[0]
    doc = plan_json(cli, "--gpus", "L4:1", "--infra", f"gcp/{region}")
    assert_chosen(doc, gcp_rows(raw_catalog, "L4", 1.0, region=region))
    assert doc["region"] == region and doc["instance_type"] == "g2-standard-4"


def test_t4_in_a_pinned_zone(cli, raw_catalog: RawCatalog):
    zone = "europe-west4-b"
    rows = gcp_rows(raw_catalog, "T4", 1.0, zone=zone)
    doc = plan_json(cli, "--gpus", "T4:1", "--infra", f"gcp/*/{zone}")
    assert_chosen(doc, rows)
    assert doc["zone"] == zone


def test_cpu_only_machines_on_gcp(cli, raw_catalog: RawCatalog):
    rows = raw_catalog.select(cpu_only=True, cloud="gcp", where=lambda r: (r.vcpus or 0) >= 8)
    assert not [r for r in rows if r.instance_type.startswith(("a2-", "a3-", "a4-", "g2-"))]
    doc = plan_json(cli, "--cpus", "8+", "--infra", "gcp")
    assert_chosen(doc, rows)
    assert doc["accelerators"] is None


@pytest.mark.parametrize(
    ("args", "instance_type", "name", "count"),
    [
        (("--instance-type", "n1-standard-8"), "n1-standard-8", None, 0),  # the bare host
        (("--instance-type", "n1-standard-8", "--gpus", "T4:1"), "n1-standard-8", "T4", 1.0),
        (("--instance-type", "a2-highgpu-1g"), "a2-highgpu-1g", "A100", 1.0),  # its GPU comes with it
    ],
)
def test_a_pinned_instance_type(cli, raw_catalog: RawCatalog, args, instance_type, name, count):
    if name is None:
        rows = raw_catalog.select(cpu_only=True, cloud="gcp", where=lambda r: r.instance_type == instance_type)
    else:
        rows = gcp_rows(raw_catalog, name, count, where=lambda r: r.instance_type == instance_type)
    doc = plan_json(cli, "--infra", "gcp", *args)
    assert_chosen(doc, rows)
    assert doc["instance_type"] == instance_type and doc["accelerator_count"] == count


def test_multi_node_on_gcp(cli, raw_catalog: RawCatalog):
    rows = gcp_rows(raw_catalog, "V100", 8.0)
    doc = plan_json(cli, "--gpus", "V100:8", "--infra", "gcp", "--num-nodes", "3")
    assert_chosen(doc, rows)
    assert doc["nodes"] == 3 and doc["cluster_hourly_price"] == pytest.approx(3 * cheapest(rows).price)


def test_a_host_smaller_than_the_default_is_not_offered(cli, raw_catalog: RawCatalog):
    """SkyPilot sizes an n1 host for T4:1 at 4+ vCPUs; a bare n1-standard-1 with a T4 is no offer."""
    assert not gcp_rows(raw_catalog, "T4", 1.0, where=lambda r: r.instance_type == "n1-standard-1")
    result = cli("optimize", "--all-clouds", "--gpus", "T4:1", "--instance-type", "n1-standard-1", "--infra", "gcp")
    assert result.code != 0 and "n1-standard-1" in result.err
