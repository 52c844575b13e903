"""Moving a task's inputs costs money: the optimizer weighs it against compute prices.

These run the real CLI on a small catalog written in the SkyPilot v8 layout in
a temporary directory. Egress prices are skyhop's documented defaults (first
tier list prices): data leaving aws costs $0.09/GB to another cloud and
$0.02/GB to another aws region; lambda does not charge.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

HEADER = ["InstanceType", "AcceleratorName", "AcceleratorCount", "vCPUs", "MemoryGiB", "Price", "SpotPrice", "Region", "AvailabilityZone"]
AWS_INTERNET = 0.09
AWS_INTER_REGION = 0.02


def write_catalog(root: Path, rows: list[tuple]) -> Path:
    """rows: (cloud, instance_type, accelerator, count, vcpus, memory, price, spot, region, zone)."""
    by_cloud: dict[str, list[tuple]] = {}
    for row in rows:
        by_cloud.setdefault(row[0], []).append(row[1:])
    for cloud, cloud_rows in by_cloud.items():
        (root / cloud).mkdir(parents=True)
        with (root / cloud / "vms.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADER)
            for row in cloud_rows:
                writer.writerow(["" if v is None else v for v in row])
    return root


@pytest.fixture(scope="session")
def egress_catalog_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Written once per worker: the planning server that serves it (conftest `cli`) starts once too."""
    return write_catalog(
        tmp_path_factory.mktemp("egress") / "catalog",
        [
            ("aws", "p4d.24xlarge", "A100", 8, 96, 1152, 100.0, 40.0, "us-east-1", "us-east-1a"),
            ("aws", "p4d.24xlarge", "A100", 8, 96, 1152, 120.0, None, "us-west-2", "us-west-2a"),
            ("aws", "g6.xlarge", "L4", 1, 4, 16, 12.0, None, "us-east-1", "us-east-1a"),
            ("aws", "g6.xlarge", "L4", 1, 4, 16, 5.0, None, "us-west-2", "us-west-2b"),
            ("gcp", "a2-ultragpu-8g", "A100", 8, 96, 1360, 97.0, 0, "us-central1", "us-central1-a"),
            ("lambda", "gpu_8x_a100", "A100", 8, 124, 1800, 95.0, "", "us-east-1", None),
            ("lambda", "gpu_1x_l4", "L4", 1, 8, 32, 3.0, "", "us-south-1", None),
        ],
    )


@pytest.fixture
def egress_catalog(egress_catalog_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SKYHOP_CATALOG_DIR", str(egress_catalog_dir))
    return egress_catalog_dir


def task_file(tmp_path: Path, inputs: dict, accelerators: str = "A100:8") -> str:
    lines = [f"resources:\n  accelerators: {accelerators}\ninputs:"] + [f"  {key}: {size}" for key, size in inputs.items()]
    path = tmp_path / "task.yaml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def by_cloud(doc: dict) -> dict:
    return {c["cloud"]: c for c in doc["candidates"]}


def test_large_bucket_input_keeps_the_task_next_to_the_data(cli, egress_catalog, tmp_path):
    # lambda is $5/h cheaper than aws, but 1000 GB leaving s3 costs $90.
    doc = cli("optimize", task_file(tmp_path, {"s3://bucket/data": 1000}), "--all-clouds", "-o", "json").json()
    assert (doc["cloud"], doc["region"], doc["instance_type"]) == ("aws", "us-east-1", "p4d.24xlarge")
    assert doc["egress_cost"] == 0.0 and doc["estimated_cost"] == pytest.approx(100.0)
    candidates = by_cloud(doc)
    assert candidates["lambda"]["egress_cost"] == pytest.approx(1000 * AWS_INTERNET)
    assert candidates["lambda"]["estimated_cost"] == pytest.approx(95.0 + 1000 * AWS_INTERNET)
    assert candidates["gcp"]["estimated_cost"] == pytest.approx(97.0 + 1000 * AWS_INTERNET)
    costs = [c["estimated_cost"] for c in doc["candidates"]]
    assert costs == sorted(costs)


def test_small_bucket_input_lets_the_cheaper_cloud_win(cli, egress_catalog, tmp_path):
    # 10 GB costs $0.90 to move: less than the $5/h gap.
    doc = cli("optimize", task_file(tmp_path, {"s3://bucket/data": 10}), "--all-clouds", "-o", "json").json()
    assert (doc["cloud"], doc["region"]) == ("lambda", "us-east-1")
    assert doc["egress_cost"] == pytest.approx(10 * AWS_INTERNET)
    assert doc["compute_cost"] == pytest.approx(95.0)
    assert doc["estimated_cost"] == pytest.approx(95.0 + 10 * AWS_INTERNET)
    assert by_cloud(doc)["aws"]["estimated_cost"] == pytest.approx(100.0)


def test_longer_runs_outweigh_the_one_time_transfer(cli, egress_catalog, tmp_path):
    # Over 20 hours the $5/h gap is $100, more than the $90 transfer.
    doc = cli("optimize", task_file(tmp_path, {"s3://bucket/data": 1000}), "--all-clouds", "--hours", "20", "-o", "json").json()
    assert doc["cloud"] == "lambda"
    assert doc["estimated_cost"] == pytest.approx(95.0 * 20 + 1000 * AWS_INTERNET)
    assert doc["egress_cost"] == pytest.approx(1000 * AWS_INTERNET)


def test_local_inputs_cost_nothing(cli, egress_catalog, tmp_path):
    doc = cli("optimize", task_file(tmp_path, {"./data": 1000}), "--all-clouds", "-o", "json").json()
    assert doc["cloud"] == "lambda" and doc["egress_cost"] == 0.0


def test_inter_region_input_prefers_the_data_region(cli, egress_catalog, tmp_path):
    # L4 with 500 GB in aws/us-east-1: us-east-1 $12 + 0; us-west-2 $5 + 500 x $0.02 = $15;
    # lambda $3 + 500 x $0.09 = $48. The cheapest region of aws is not the best one.
    task = task_file(tmp_path, {"aws/us-east-1": 500}, accelerators="L4:1")
    doc = cli("optimize", task, "--all-clouds", "-o", "json").json()
    assert (doc["cloud"], doc["region"], doc["zone"]) == ("aws", "us-east-1", "us-east-1a")
    assert doc["estimated_cost"] == pytest.approx(12.0)
    assert by_cloud(doc)["lambda"]["estimated_cost"] == pytest.approx(3.0 + 500 * AWS_INTERNET)


def test_inter_region_input_over_a_long_run(cli, egress_catalog, tmp_path):
    # Over 10 hours: us-east-1 $120; us-west-2 $50 + $10; lambda $30 + $45.
    task = task_file(tmp_path, {"aws/us-east-1": 500}, accelerators="L4:1")
    doc = cli("optimize", task, "--all-clouds", "--hours", "10", "-o", "json").json()
    assert (doc["cloud"], doc["region"]) == ("aws", "us-west-2")
    assert doc["egress_cost"] == pytest.approx(500 * AWS_INTER_REGION)
    assert doc["estimated_cost"] == pytest.approx(60.0)


def test_inputs_in_two_places_add_up(cli, egress_catalog, tmp_path):
    # gcp charges $0.12/GB out: 100 GB in gs:// plus 1000 GB in s3:// .
    task = task_file(tmp_path, {"s3://bucket/a": 1000, "gs://bucket/b": 100})
    doc = cli("optimize", task, "--all-clouds", "-o", "json").json()
    candidates = by_cloud(doc)
    assert candidates["aws"]["egress_cost"] == pytest.approx(100 * 0.12)
    assert candidates["gcp"]["egress_cost"] == pytest.approx(1000 * AWS_INTERNET)
    assert candidates["lambda"]["egress_cost"] == pytest.approx(1000 * AWS_INTERNET + 100 * 0.12)
    assert doc["cloud"] == "aws" and doc["estimated_cost"] == pytest.approx(112.0)


def test_spot_prices_in_the_small_catalog(cli, egress_catalog, tmp_path):
    # gcp writes 0 for spot and lambda leaves it blank: only aws has spot.
    doc = cli("optimize", "--all-clouds", "--gpus", "A100:8", "--use-spot", "-o", "json").json()
    assert {c["cloud"] for c in doc["candidates"]} == {"aws"}
    assert doc["hourly_price"] == pytest.approx(40.0)


def test_pipeline_through_the_cli_pays_for_moving_outputs(cli, egress_catalog, tmp_path):
    # train (A100:8) on aws us-east-1 writes 100 GB; eval (L4:1) then compares
    # us-east-1 $12 + 0, us-west-2 $5 + $2, lambda $3 + $9.
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        "name: p\n---\nname: train\nresources:\n  accelerators: A100:8\ninputs:\n  s3://bucket/data: 2000\n"
        "outputs:\n  s3://bucket/ckpt: 100\n---\nname: eval\nresources:\n  accelerators: L4:1\n"
    )
    doc = cli("optimize", str(path), "--all-clouds", "-o", "json").json()
    assert doc["pipeline"] == "p" and doc["method"] == "chain-dp"
    train, evaluate = doc["stages"]
    assert (train["cloud"], train["region"]) == ("aws", "us-east-1")
    assert (evaluate["cloud"], evaluate["region"]) == ("aws", "us-west-2")
    assert doc["transfer_cost"] == pytest.approx(100 * AWS_INTER_REGION)
    assert doc["estimated_cost"] == pytest.approx(100.0 + 5.0 + 2.0)
