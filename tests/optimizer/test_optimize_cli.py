"""`skyhop optimize` on the shared catalogs, checked against the CSV files themselves.

Every expected answer is computed by `rawcsv` straight from the vms.csv files
(raw accelerator spellings listed there), never through skyhop's parser.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from helpers import run_cli
from rawcsv import H100_SXM_SPELLINGS, H200_SPELLINGS, RTX4090_SPELLINGS, RawCatalog, RawRow, cheapest

TOP_LEVEL_FIELDS = (
    "schema_version", "task", "cloud", "region", "zone", "instance_type", "accelerators",
    "accelerator_name", "accelerator_count", "use_spot", "hourly_price", "nodes",
    "cluster_hourly_price", "estimated_hours", "estimated_cost", "candidates",
    "considered_clouds", "notes",
)
OFFER_FIELDS = (
    "cloud", "region", "zone", "instance_type", "accelerators", "accelerator_name", "accelerator_count",
    "vcpus", "memory_gib", "gpu_memory_gib", "use_spot", "hourly_price", "nodes", "cluster_hourly_price",
    "estimated_hours", "compute_cost", "egress_cost", "estimated_cost", "request",
)


def check_plan_json(doc: dict) -> dict:
    """Schema and internal consistency of one task plan; returns the chosen candidate."""
    for name in TOP_LEVEL_FIELDS:
        assert name in doc, f"missing top-level field {name!r}"
    assert doc["schema_version"] == 1
    assert isinstance(doc["use_spot"], bool)
    assert isinstance(doc["nodes"], int) and doc["nodes"] >= 1
    for name in ("hourly_price", "cluster_hourly_price", "estimated_hours", "compute_cost", "egress_cost", "estimated_cost"):
        assert isinstance(doc[name], float), f"{name} should be a JSON float, got {doc[name]!r}"
    assert doc["cluster_hourly_price"] == pytest.approx(doc["hourly_price"] * doc["nodes"])
    assert doc["compute_cost"] == pytest.approx(doc["cluster_hourly_price"] * doc["estimated_hours"])
    assert doc["estimated_cost"] == pytest.approx(doc["compute_cost"] + doc["egress_cost"])
    if doc["accelerators"] is None:
        assert doc["accelerator_name"] is None and doc["accelerator_count"] == 0
    else:
        assert doc["accelerators"] == f"{doc['accelerator_name']}:{doc['accelerator_count']}"

    candidates = doc["candidates"]
    assert isinstance(candidates, list) and candidates
    chosen = [c for c in candidates if c["chosen"] is True]
    assert len(chosen) == 1, "exactly one candidate must be chosen"
    assert all(c["chosen"] in (True, False) for c in candidates)
    for candidate in candidates:
        assert set(OFFER_FIELDS) | {"chosen"} == set(candidate), "candidate fields differ from the documented set"
    for name in OFFER_FIELDS:
        assert chosen[0][name] == doc[name], f"chosen candidate and top level disagree on {name}"
    groups = [(c["cloud"], c["accelerator_name"], c["accelerator_count"], c["use_spot"]) for c in candidates]
    assert len(groups) == len(set(groups)), "one candidate per cloud x accelerator x spot"
    costs = [c["estimated_cost"] for c in candidates]
    assert costs == sorted(costs), "candidates are listed cheapest first"

    assert isinstance(doc["considered_clouds"], list) and doc["considered_clouds"] == sorted(doc["considered_clouds"])
    assert isinstance(doc["notes"], list) and all(isinstance(n, str) for n in doc["notes"])
    return chosen[0]


def plan_json(cli, *args: str) -> dict:
    """`optimize --all-clouds --output json ARGS`, which must succeed, as a checked plan document."""
    result = cli("optimize", "--all-clouds", "--output", "json", *args)
    assert result.code == 0, result.err
    doc = result.json()
    check_plan_json(doc)
    return doc


def ident(entry: dict) -> tuple:
    return (entry["cloud"], entry["instance_type"], entry["region"], entry["zone"])


def assert_chosen(doc: dict, rows: list[RawRow], spot: bool = False) -> None:
    """The plan picked the cheapest row, and among ties the documented tie-break winner."""
    expected = cheapest(rows, spot)
    assert doc["hourly_price"] == pytest.approx(expected.price)
    assert ident(doc) in expected.tied, f"{ident(doc)} is not among the cheapest rows {sorted(expected.tied)}"
    assert ident(doc) == expected.winner.ident
    assert doc["use_spot"] is spot


def assert_best_per_cloud(doc: dict, rows: list[RawRow], spot: bool = False) -> None:
    """For a single-accelerator request: one candidate per cloud that has the shape, at its cheapest row."""
    by_cloud: dict[str, list[RawRow]] = {}
    for row in rows:
        by_cloud.setdefault(row.cloud, []).append(row)
    seen = {c["cloud"]: c for c in doc["candidates"]}
    assert set(seen) == set(by_cloud)
    for cloud, cloud_rows in by_cloud.items():
        expected = cheapest(cloud_rows, spot)
        assert seen[cloud]["hourly_price"] == pytest.approx(expected.price), cloud
        assert ident(seen[cloud]) == expected.winner.ident, cloud


def write_task(tmp_path: Path, text: str, name: str = "task.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# -- the headline request --------------------------------------------------------


def test_h100x8_all_clouds_is_the_cheapest_row_in_the_csv_files(cli, raw_catalog: RawCatalog):
    rows = raw_catalog.select(spellings=H100_SXM_SPELLINGS, count=8)
    result = cli("optimize", "--all-clouds", "--gpus", "H100:8", "--output", "json")
    assert result.code == 0, result.err
    doc = result.json()
    check_plan_json(doc)
    assert_chosen(doc, rows)
    assert_best_per_cloud(doc, rows)
    assert doc["task"] is None
    assert doc["accelerator_name"] == "H100" and doc["accelerator_count"] == 8
    assert doc["nodes"] == 1 and doc["estimated_hours"] == 1.0
    assert doc["estimated_cost"] == pytest.approx(cheapest(rows).price)
    assert doc["considered_clouds"] == raw_catalog.clouds
    assert doc["notes"] == []


def test_h100x8_through_a_real_subprocess(planning_home, raw_catalog: RawCatalog):
    rows = raw_catalog.select(spellings=H100_SXM_SPELLINGS, count=8)
    result = run_cli(planning_home, "optimize", "--all-clouds", "--gpus", "H100:8", "--output", "json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    check_plan_json(doc)
    assert_chosen(doc, rows)


def test_h100x8_table_output_names_the_chosen_offer(cli, raw_catalog: RawCatalog):
    winner = cheapest(raw_catalog.select(spellings=H100_SXM_SPELLINGS, count=8)).winner
    result = cli("optimize", "--all-clouds", "--gpus", "H100:8")
    assert result.code == 0, result.err
    chosen_line = [line for line in result.out.splitlines() if line.startswith("Chosen:")]
    assert len(chosen_line) == 1
    assert f"{winner.cloud} {winner.instance_type} in {winner.region}" in chosen_line[0]
    assert sum("<- chosen" in line for line in result.out.splitlines()) == 1


def test_spot_uses_spot_prices_and_treats_zero_as_not_offered(cli, raw_catalog: RawCatalog):
    rows = raw_catalog.select(spellings=H100_SXM_SPELLINGS, count=8, spot=True)
    # vast writes SpotPrice 0.00 for every row: it has H100:8 on-demand but no spot offer.
    assert raw_catalog.select(spellings=H100_SXM_SPELLINGS, count=8, cloud="vast")
    assert not [r for r in rows if r.cloud == "vast"]
    result = cli("optimize", "--all-clouds", "--gpus", "H100:8", "--use-spot", "-o", "json")
    assert result.code == 0, result.err
    doc = result.json()
    check_plan_json(doc)
    assert_chosen(doc, rows, spot=True)
    assert_best_per_cloud(doc, rows, spot=True)
    assert all(c["use_spot"] is True for c in doc["candidates"])
    assert "vast" not in {c["cloud"] for c in doc["candidates"]}


@pytest.mark.parametrize("cloud", ["lambda", "nebius", "cudo", "primeintellect", "vast"])
def test_infra_cloud_pin(cli, raw_catalog: RawCatalog, cloud: str):
    rows = raw_catalog.select(spellings=H100_SXM_SPELLINGS, count=8, cloud=cloud)
    result = cli("optimize", "--all-clouds", "--gpus", "H100:8", "--infra", cloud, "-o", "json")
    assert result.code == 0, result.err
    doc = result.json()
    check_plan_json(doc)
    assert_chosen(doc, rows)
    assert {c["cloud"] for c in doc["candidates"]} == {cloud}


def test_cloud_pin_with_many_tied_regions_breaks_ties_by_region(cli, raw_catalog: RawCatalog):
    rows = raw_catalog.select(spellings=H100_SXM_SPELLINGS, count=8, cloud="lambda")
    expected = cheapest(rows)
    assert len(expected.tied) > 1, "lambda lists gpu_8x_h100_sxm5 at one price in many regions"
    doc = cli("optimize", "--all-clouds", "--gpus", "H100:8", "--infra", "lambda", "-o", "json").json()
    assert doc["region"] == min(region for _, _, region, _ in expected.tied)


@pytest.mark.parametrize(
    "infra, cloud, region, zone",
    [
        ("lambda/us-east-1", "lambda", "us-east-1", None),
        ("cudo/ca-montreal-3", "cudo", "ca-montreal-3", None),  # two instance types there, different prices
        ("nebius/eu-north1", "nebius", "eu-north1", None),
        ("primeintellect/*/ICE-01", "primeintellect", None, "ICE-01"),  # a zone pin
        ("primeintellect/IS/ICE-01", "primeintellect", "IS", "ICE-01"),
    ],
)
def test_infra_region_and_zone_pins(cli, raw_catalog: RawCatalog, infra, cloud, region, zone):
    rows = raw_catalog.select(spellings=H100_SXM_SPELLINGS, count=8, cloud=cloud, region=region, zone=zone)
    doc = cli("optimize", "--all-clouds", "--gpus", "H100:8", "--infra", infra, "-o", "json").json()
    check_plan_json(doc)
    assert_chosen(doc, rows)
    for candidate in doc["candidates"]:
        assert candidate["cloud"] == cloud
        assert region is None or candidate["region"] == region
        assert zone is None or candidate["zone"] == zone


def test_spot_with_a_region_pin(cli, raw_catalog: RawCatalog):
    rows = raw_catalog.select(spellings=H100_SXM_SPELLINGS, count=8, spot=True, cloud="nebius")
    region = rows[0].region
    rows = [r for r in rows if r.region == region]
    doc = cli("optimize", "--all-clouds", "--gpus", "H100:8", "--use-spot", "--infra", f"nebius/{region}", "-o", "json").json()
    check_plan_json(doc)
    assert_chosen(doc, rows, spot=True)


# -- alternatives ------------------------------------------------------------------


def test_any_of_takes_the_cheapest_across_both_and_breaks_the_tie(cli, raw_catalog: RawCatalog, tmp_path):
    h100 = raw_catalog.select(spellings=H100_SXM_SPELLINGS, count=8)
    h200 = raw_catalog.select(spellings=H200_SPELLINGS, count=8)
    task = write_task(tmp_path, "resources:\n  any_of:\n    - accelerators: H100:8\n    - accelerators: H200:8\n")
    doc = cli("optimize", task, "--all-clouds", "-o", "json").json()
    check_plan_json(doc)
    assert_chosen(doc, h100 + h200)
    names = {c["accelerator_name"] for c in doc["candidates"]}
    assert names == {"H100", "H200"}, "both alternatives compete in one table"
    for name, rows in (("H100", h100), ("H200", h200)):
        best = min(c["estimated_cost"] for c in doc["candidates"] if c["accelerator_name"] == name)
        assert best == pytest.approx(cheapest(rows).price)


def test_accelerator_set_competes_like_any_of(cli, raw_catalog: RawCatalog, tmp_path):
    rows = raw_catalog.select(spellings=H100_SXM_SPELLINGS, count=8) + raw_catalog.select(spellings=H200_SPELLINGS, count=8)
    task = write_task(tmp_path, "resources:\n  accelerators: {H200: 8, H100: 8}\n  use_spot: true\n")
    spot_rows = raw_catalog.select(spellings=H100_SXM_SPELLINGS, count=8, spot=True) + raw_catalog.select(
        spellings=H200_SPELLINGS, count=8, spot=True
    )
    doc = cli("optimize", task, "--all-clouds", "-o", "json").json()
    check_plan_json(doc)
    assert_chosen(doc, spot_rows, spot=True)
    doc = cli("optimize", task, "--all-clouds", "--no-use-spot", "-o", "json").json()
    assert_chosen(doc, rows)


def test_any_of_entry_cap_excludes_the_cheaper_alternative(cli, raw_catalog: RawCatalog, tmp_path):
    rtx = raw_catalog.select(spellings=RTX4090_SPELLINGS, count=1)
    h100 = raw_catalog.select(spellings=H100_SXM_SPELLINGS, count=1)
    cap = cheapest(rtx).price - 0.01
    assert cheapest(rtx).price < cheapest(h100).price
    task = write_task(
        tmp_path,
        f"resources:\n  any_of:\n    - {{accelerators: RTX4090:1, max_hourly_cost: {cap}}}\n    - accelerators: H100:1\n",
    )
    doc = cli("optimize", task, "--all-clouds", "-o", "json").json()
    check_plan_json(doc)
    assert_chosen(doc, h100 + raw_catalog.select(spellings=RTX4090_SPELLINGS, count=1, cap=cap))


@pytest.mark.parametrize(
    "resources",
    [
        "  ordered:\n    - accelerators: H100:1\n    - accelerators: RTX4090:1\n",
        "  accelerators: [H100:1, RTX4090:1]\n",
    ],
    ids=["ordered", "accelerator-list"],
)
def test_ordered_first_entry_wins_even_when_a_later_one_is_cheaper(cli, raw_catalog: RawCatalog, tmp_path, resources):
    h100 = raw_catalog.select(spellings=H100_SXM_SPELLINGS, count=1)
    rtx = raw_catalog.select(spellings=RTX4090_SPELLINGS, count=1)
    assert cheapest(rtx).price < cheapest(h100).price, "the test needs the later preference to be cheaper"
    doc = cli("optimize", write_task(tmp_path, "resources:\n" + resources), "--all-clouds", "-o", "json").json()
    check_plan_json(doc)
    assert_chosen(doc, h100)
    assert {c["accelerator_name"] for c in doc["candidates"]} == {"H100"}
    assert doc["notes"] == []


def test_ordered_falls_back_to_the_second_entry_with_a_note(cli, raw_catalog: RawCatalog, tmp_path):
    rtx = raw_catalog.select(spellings=RTX4090_SPELLINGS, count=1)
    task = write_task(
        tmp_path,
        "resources:\n  ordered:\n    - {accelerators: H100:8, max_hourly_cost: 1}\n    - accelerators: RTX4090:1\n",
    )
    doc = cli("optimize", task, "--all-clouds", "-o", "json").json()
    check_plan_json(doc)
    assert_chosen(doc, rtx)
    assert len(doc["notes"]) == 1
    assert "H100:8" in doc["notes"][0] and "max_hourly_cost" in doc["notes"][0]
    # The table view shows the note too.
    text = cli("optimize", task, "--all-clouds").out
    assert "Note: Earlier preference(s) had no offer" in text


def test_ordered_falls_back_when_the_first_accelerator_does_not_exist_at_that_count(cli, raw_catalog: RawCatalog, tmp_path):
    h200 = raw_catalog.select(spellings=H200_SPELLINGS, count=8)
    doc = cli("optimize", write_task(tmp_path, "resources:\n  accelerators: [H100:16, H200:8]\n"), "--all-clouds", "-o", "json").json()
    check_plan_json(doc)
    assert_chosen(doc, h200)
    assert len(doc["notes"]) == 1 and "H100:16" in doc["notes"][0]


# -- price cap ----------------------------------------------------------------------


@pytest.mark.parametrize("cap", [16.0, 20.0, 31.92])
def test_max_hourly_cost_keeps_only_offers_under_the_cap(cli, raw_catalog: RawCatalog, tmp_path, cap):
    rows = raw_catalog.select(spellings=H100_SXM_SPELLINGS, count=8, cap=cap)
    task = write_task(tmp_path, f"resources:\n  accelerators: H100:8\n  max_hourly_cost: {cap}\n")
    doc = cli("optimize", task, "--all-clouds", "-o", "json").json()
    check_plan_json(doc)
    assert_chosen(doc, rows)
    assert_best_per_cloud(doc, rows)
    assert all(c["hourly_price"] <= cap + 1e-9 for c in doc["candidates"])


def test_max_hourly_cost_is_per_node_and_inclusive(cli, raw_catalog: RawCatalog, tmp_path):
    rows = raw_catalog.select(spellings=H100_SXM_SPELLINGS, count=8)
    price = cheapest(rows).price
    task = write_task(tmp_path, f"num_nodes: 2\nresources:\n  accelerators: H100:8\n  max_hourly_cost: {price}\n")
    doc = cli("optimize", task, "--all-clouds", "-o", "json").json()
    check_plan_json(doc)
    assert_chosen(doc, rows)
    assert doc["nodes"] == 2
    assert doc["cluster_hourly_price"] == pytest.approx(2 * price)


def test_max_hourly_cost_below_every_offer_is_infeasible(cli, raw_catalog: RawCatalog, tmp_path):
    price = cheapest(raw_catalog.select(spellings=H100_SXM_SPELLINGS, count=8)).price
    task = write_task(tmp_path, f"resources:\n  accelerators: H100:8\n  max_hourly_cost: {price - 0.01}\n")
    result = cli("optimize", task, "--all-clouds", "-o", "json")
    assert result.code != 0
    assert result.out == ""
    assert "max_hourly_cost" in result.err and "Nearest:" in result.err
    assert "Traceback" not in result.err


# -- CPU-only requests ----------------------------------------------------------------


@pytest.mark.parametrize(
    "flags, predicate",
    [
        (("--cpus", "8+", "--memory", "32+"), lambda r: r.vcpus is not None and r.vcpus >= 8 and r.memory is not None and r.memory >= 32),
        (("--cpus", "4"), lambda r: r.vcpus == 4),
        (("--cpus", "4+"), lambda r: r.vcpus is not None and r.vcpus >= 4),
        (("--cpus", "16", "--memory", "64"), lambda r: r.vcpus == 16 and r.memory == 64),
        (("--memory", "100+"), lambda r: r.memory is not None and r.memory >= 100),
        ((), lambda r: r.vcpus is not None and r.vcpus >= 4),  # nothing requested: 4+ vCPUs
    ],
    ids=["8+cpus-32+mem", "exactly-4", "4+", "exactly-16-64", "100+mem", "default"],
)
def test_cpu_only_requests(cli, raw_catalog: RawCatalog, flags, predicate):
    rows = raw_catalog.select(cpu_only=True, where=predicate)
    doc = cli("optimize", "--all-clouds", *flags, "-o", "json").json()
    check_plan_json(doc)
    assert_chosen(doc, rows)
    assert_best_per_cloud(doc, rows)
    assert all(c["accelerators"] is None for c in doc["candidates"]), "CPU-only requests never get a GPU machine"


def test_cpus_in_yaml_exact_versus_at_least(cli, raw_catalog: RawCatalog, tmp_path):
    exact = cli("optimize", write_task(tmp_path, "resources:\n  cpus: 4\n", "a.yaml"), "--all-clouds", "-o", "json").json()
    at_least = cli("optimize", write_task(tmp_path, "resources:\n  cpus: 8+\n  memory: 32+\n", "b.yaml"), "--all-clouds", "-o", "json").json()
    assert_chosen(exact, raw_catalog.select(cpu_only=True, where=lambda r: r.vcpus == 4))
    assert all(c["vcpus"] == 4 for c in exact["candidates"])
    assert_chosen(at_least, raw_catalog.select(cpu_only=True, where=lambda r: (r.vcpus or 0) >= 8 and (r.memory or 0) >= 32))


# -- cost arithmetic --------------------------------------------------------------------


@pytest.mark.parametrize("nodes, hours", [(3, None), (1, "2.5"), (4, "10"), (2, "0.5")])
def test_num_nodes_and_hours_scale_the_cost(cli, raw_catalog: RawCatalog, nodes, hours):
    rows = raw_catalog.select(spellings=H100_SXM_SPELLINGS, count=8)
    price = cheapest(rows).price
    args = ["optimize", "--all-clouds", "--gpus", "H100:8", "--num-nodes", str(nodes), "-o", "json"]
    if hours is not None:
        args += ["--hours", hours]
    doc = cli(*args).json()
    check_plan_json(doc)
    assert_chosen(doc, rows)
    expected_hours = float(hours) if hours is not None else 1.0
    assert doc["nodes"] == nodes
    assert doc["estimated_hours"] == expected_hours
    assert doc["hourly_price"] == pytest.approx(price)
    assert doc["cluster_hourly_price"] == pytest.approx(price * nodes)
    assert doc["estimated_cost"] == pytest.approx(price * nodes * expected_hours)
    for candidate in doc["candidates"]:
        assert candidate["nodes"] == nodes
        assert candidate["estimated_cost"] == pytest.approx(candidate["hourly_price"] * nodes * expected_hours)


def test_num_nodes_from_yaml_and_flag_override(cli, raw_catalog: RawCatalog, tmp_path):
    price = cheapest(raw_catalog.select(spellings=H100_SXM_SPELLINGS, count=8)).price
    task = write_task(tmp_path, "name: big\nnum_nodes: 4\nresources:\n  accelerators: H100:8\n")
    doc = cli("optimize", task, "--all-clouds", "-o", "json").json()
    assert doc["task"] == "big" and doc["nodes"] == 4
    assert doc["estimated_cost"] == pytest.approx(4 * price)
    doc = cli("optimize", task, "--all-clouds", "--num-nodes", "2", "--hours", "3", "-o", "json").json()
    assert doc["nodes"] == 2 and doc["estimated_cost"] == pytest.approx(6 * price)


def test_hours_must_be_positive(cli):
    result = cli("optimize", "--all-clouds", "--gpus", "H100:8", "--hours", "0")
    assert result.code != 0 and "Traceback" not in result.err and "positive" in result.err


def test_costs_are_finite_numbers(cli):
    doc = cli("optimize", "--all-clouds", "--gpus", "H100:8", "-o", "json").json()
    for candidate in doc["candidates"]:
        for name in ("hourly_price", "cluster_hourly_price", "compute_cost", "egress_cost", "estimated_cost"):
            assert math.isfinite(candidate[name]) and candidate[name] >= 0
