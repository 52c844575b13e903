"""`skyhop show-gpus` against the real shared catalogs."""

from __future__ import annotations

import json

import pytest
from helpers import run_cli

SUMMARY_KEYS = {"accelerator", "cloud", "counts", "cheapest_hourly_price_per_gpu", "cheapest_spot_hourly_price_per_gpu"}
SHAPE_KEYS = {
    "accelerator", "count", "cloud", "instance_type", "gpu_memory_gib", "vcpus",
    "memory_gib", "hourly_price", "spot_hourly_price", "region", "spot_region",
}  # fmt: skip


def as_json(result) -> list[dict]:
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_summary_table_lists_every_accelerator_per_cloud(skyhop, shared_catalog):
    result = skyhop("show-gpus", "--all")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["ACCELERATOR", "CLOUD", "COUNTS", "PER", "NODE", "CHEAPEST", "$/GPU/H", "CHEAPEST", "SPOT", "$/GPU/H"]
    lambda_h100 = next(line.split() for line in lines if line.split()[:2] == ["H100", "lambda"])
    assert lambda_h100[2:6] == ["1,", "2,", "4,", "8"]
    assert {line.split()[0] for line in lines[2:] if line.strip()} == set(shared_catalog.accelerator_names())


def test_summary_without_all_shows_the_common_accelerators_and_says_so(skyhop, shared_catalog):
    from skyhop.cli.gpus_cmd import COMMON_ACCELERATORS

    result = skyhop("show-gpus")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    shown = {line.split()[0] for line in lines[2:-1] if line.strip()}
    every = set(shared_catalog.accelerator_names())
    assert shown == every & COMMON_ACCELERATORS and "H100" in shown
    assert lines[-1] == f"{len(every - COMMON_ACCELERATORS)} less common accelerator(s) not shown; use -a/--all to list every one."
    assert {r["accelerator"] for r in as_json(skyhop("show-gpus", "-a", "-o", "json"))} == every


def test_legacy_cloud_and_region_flags_pin_like_infra(skyhop):
    legacy = as_json(skyhop("show-gpus", "H100", "--cloud", "lambda", "--region", "us-east-1", "-o", "json"))
    assert legacy == as_json(skyhop("show-gpus", "H100", "--infra", "lambda/us-east-1", "-o", "json"))
    assert {(r["cloud"], r["region"]) for r in legacy} == {("lambda", "us-east-1")}
    both = skyhop("show-gpus", "--cloud", "lambda", "--infra", "aws")
    assert both.code != 0 and "cannot be combined with --cloud" in both.err
    hostile = skyhop("show-gpus", "--cloud", "lambda", "--region", "../../etc")
    assert hostile.code != 0 and "--region" in hostile.err and "Traceback" not in hostile.err


def test_summary_json_schema_and_values(skyhop, shared_catalog):
    rows = as_json(skyhop("show-gpus", "--all", "--output", "json"))
    assert rows and all(set(row) == SUMMARY_KEYS for row in rows)
    assert len({(r["accelerator"], r["cloud"]) for r in rows}) == len(rows)
    assert [(r["accelerator"].lower(), r["cloud"]) for r in rows] == sorted((r["accelerator"].lower(), r["cloud"]) for r in rows)
    by_key = {(r["accelerator"], r["cloud"]): r for r in rows}
    lam = by_key[("H100", "lambda")]
    offers = [o for o in shared_catalog.offers if o.cloud == "lambda" and o.accelerator == "H100"]
    assert lam["counts"] == [1, 2, 4, 8]
    assert lam["cheapest_hourly_price_per_gpu"] == pytest.approx(min(o.price / o.accelerator_count for o in offers))
    assert lam["cheapest_spot_hourly_price_per_gpu"] is None
    verda = by_key[("B300", "verda")]  # verda has spot prices
    spot = [o.spot_price / o.accelerator_count for o in shared_catalog.offers if o.cloud == "verda" and o.accelerator == "B300" and o.spot_price]
    assert verda["cheapest_spot_hourly_price_per_gpu"] == pytest.approx(min(spot))
    assert all(r["cheapest_spot_hourly_price_per_gpu"] is None for r in rows if r["cloud"] == "vast")


def test_name_lists_every_shape_cheapest_region(skyhop, shared_catalog):
    rows = as_json(skyhop("show-gpus", "H100", "-o", "json"))
    assert rows and all(set(row) == SHAPE_KEYS for row in rows)
    assert {r["accelerator"] for r in rows} == {"H100"}
    assert "spheron" in {r["cloud"] for r in rows}  # H100_SXM5 folded into H100
    shapes = [(r["cloud"], r["instance_type"], r["count"]) for r in rows]
    assert len(shapes) == len(set(shapes))
    assert [r["count"] for r in rows] == sorted(r["count"] for r in rows)
    expected_shapes = {(o.cloud, o.instance_type, int(o.accelerator_count)) for o in shared_catalog.offers_of("H100")}
    assert set(shapes) == expected_shapes
    lam = next(r for r in rows if r["instance_type"] == "gpu_8x_h100_sxm5")
    prices = [o.price for o in shared_catalog.offers if o.instance_type == "gpu_8x_h100_sxm5"]
    assert lam["hourly_price"] == min(prices) and lam["gpu_memory_gib"] == 80.0
    assert (lam["vcpus"], lam["memory_gib"]) == (208, 1800)


def test_name_and_count(skyhop, shared_catalog):
    rows = as_json(skyhop("show-gpus", "h100:8", "--output", "json"))
    assert rows and {r["count"] for r in rows} == {8}
    cheapest = min(o.price for o in shared_catalog.offers if o.accelerator == "H100" and o.accelerator_count == 8 and o.price)
    assert rows[0]["hourly_price"] == cheapest
    table = skyhop("show-gpus", "H100:8")
    assert table.code == 0 and "gpu_8x_h100_sxm5" in table.out
    assert table.out.splitlines()[0].split()[:4] == ["ACCELERATOR", "QTY", "CLOUD", "INSTANCE"]


def test_spot_only_shapes_show_their_spot_price(skyhop):
    rows = as_json(skyhop("show-gpus", "B300:2", "--infra", "verda", "-o", "json"))
    row = next(r for r in rows if r["instance_type"] == "2B300.60V")
    assert row["hourly_price"] is None and row["spot_hourly_price"] == pytest.approx(4.893)
    assert row["spot_region"] == "FIN-03"


def test_infra_limits_cloud_and_region(skyhop):
    rows = as_json(skyhop("show-gpus", "A100", "--infra", "lambda", "-o", "json"))
    assert rows and {r["cloud"] for r in rows} == {"lambda"}
    regional = as_json(skyhop("show-gpus", "A100", "--infra", "lambda/us-east-1", "-o", "json"))
    assert regional and {r["region"] for r in regional} == {"us-east-1"}
    assert len(regional) <= len(rows)
    summary = as_json(skyhop("show-gpus", "--infra", "vast", "-o", "json"))
    assert summary and {r["cloud"] for r in summary} == {"vast"}


def test_infra_zone_pin(skyhop, shared_catalog):
    rows = as_json(skyhop("show-gpus", "A100-80GB", "--infra", "primeintellect/US/us-midwest-1", "--all-regions", "-o", "json"))
    expected = {o.instance_type for o in shared_catalog.offers if o.zone == "us-midwest-1" and o.accelerator == "A100-80GB"}
    assert rows and {r["instance_type"] for r in rows} == expected


def test_all_regions_gives_one_row_per_region(skyhop, shared_catalog):
    cheapest = as_json(skyhop("show-gpus", "H100:8", "--infra", "lambda", "-o", "json"))
    every = as_json(skyhop("show-gpus", "H100:8", "--infra", "lambda", "--all-regions", "-o", "json"))
    assert len(every) > len(cheapest) == 1
    regions = {o.region for o in shared_catalog.offers if o.instance_type == "gpu_8x_h100_sxm5" and o.price}
    assert {r["region"] for r in every} == regions
    assert len({(r["instance_type"], r["region"]) for r in every}) == len(every)


def test_unknown_gpu_name_suggests_the_nearest(skyhop):
    result = skyhop("show-gpus", "H10O")
    assert result.code == 1
    assert "No cloud in the catalog offers 'H10O'. Did you mean 'H100'?" in result.err
    assert "Traceback" not in result.err and result.out == ""


def test_a_count_nobody_offers_lists_the_counts(skyhop):
    result = skyhop("show-gpus", "H100:16")
    assert result.code == 1
    assert "No offers of H100:16; counts on offer: 1, 2, 3, 4, 5, 6, 7, 8." in result.err


def test_bad_infra_is_a_user_error(skyhop):
    unknown = skyhop("show-gpus", "H100", "--infra", "lamda")
    assert unknown.code == 1 and "unknown cloud" in unknown.err and "Did you mean 'lambda'?" in unknown.err
    absent = skyhop("show-gpus", "H100", "--infra", "aws")
    assert absent.code == 1 and "holds no catalog for aws" in absent.err


def test_bad_count_is_a_user_error(skyhop):
    result = skyhop("show-gpus", "H100:zero")
    assert result.code == 1 and "accelerator count is not a number" in result.err


def test_a_malformed_catalog_is_reported_without_traceback(isolated_home, tmp_path):
    root = tmp_path / "catalog"
    (root / "acme").mkdir(parents=True)
    (root / "acme" / "vms.csv").write_text("Region,Price\nus-1,1.0\n")
    result = run_cli(isolated_home, "show-gpus", SKYHOP_CATALOG_DIR=str(root))
    assert result.returncode == 1
    assert result.stderr.startswith("Error: Catalog file ") and "acme" in result.stderr and "InstanceType" in result.stderr
    assert "Traceback" not in result.stderr


def test_show_gpus_in_a_subprocess(isolated_home):
    result = run_cli(isolated_home, "show-gpus", "H100:8", "--infra", "lambda", "--output", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["instance_type"] for r in rows] == ["gpu_8x_h100_sxm5"]
    assert rows[0]["gpu_memory_gib"] == 80.0


def test_catalog_dir_that_does_not_exist(skyhop, monkeypatch, tmp_path):
    monkeypatch.setenv("SKYHOP_CATALOG_DIR", str(tmp_path / "nowhere"))
    result = skyhop("show-gpus")
    assert result.code == 1
    assert f"SKYHOP_CATALOG_DIR={tmp_path / 'nowhere'} is not a directory" in result.err
    assert "Traceback" not in result.err
