"""examples/pipeline.yaml through the CLI: table and JSON output agree with the CSV files.

None of the clouds in the shared catalogs charges for egress in skyhop's
default price list, so each stage lands on its own cheapest offer and nothing
is paid for moving the checkpoints.
"""

from __future__ import annotations

import json
import re

import pytest
from helpers import REPO, run_cli
from rawcsv import H100_SXM_SPELLINGS, RawCatalog, cheapest

EXAMPLE = str(REPO / "examples" / "pipeline.yaml")
# Raw spellings of the L40S in the shared catalogs (it only exists as a PCIe card).
L40S_SPELLINGS = frozenset({"L40S", "L40S_PCIE", "L40S_PCIE_BAREMETAL"})


def expected_stages(raw: RawCatalog):
    return cheapest(raw.select(spellings=H100_SXM_SPELLINGS, count=8)), cheapest(raw.select(spellings=L40S_SPELLINGS, count=1))


def test_pipeline_example_json(cli, raw_catalog: RawCatalog):
    result = cli("optimize", EXAMPLE, "--all-clouds", "--output", "json")
    assert result.code == 0, result.err
    doc = result.json()
    assert doc["schema_version"] == 1
    assert doc["pipeline"] == "train-then-eval"
    assert doc["method"] == "chain-dp"
    assert [s["task"] for s in doc["stages"]] == ["train", "eval"]
    for stage, expected in zip(doc["stages"], expected_stages(raw_catalog)):
        assert stage["schema_version"] == 1
        assert stage["hourly_price"] == pytest.approx(expected.price)
        assert (stage["cloud"], stage["instance_type"], stage["region"], stage["zone"]) == expected.winner.ident
        chosen = [c for c in stage["candidates"] if c["chosen"]]
        assert len(chosen) == 1 and chosen[0]["instance_type"] == stage["instance_type"]
    assert doc["stages"][0]["accelerators"] == "H100:8" and doc["stages"][1]["accelerators"] == "L40S:1"
    assert doc["transfer_cost"] == 0.0
    total = sum(s["estimated_cost"] for s in doc["stages"]) + doc["transfer_cost"]
    assert doc["estimated_cost"] == pytest.approx(total)
    assert doc["estimated_cost"] == pytest.approx(sum(e.price for e in expected_stages(raw_catalog)))


def test_pipeline_example_table(cli, raw_catalog: RawCatalog):
    result = cli("optimize", EXAMPLE, "--all-clouds")
    assert result.code == 0, result.err
    out = result.out
    assert "Stage 0: train" in out and "Stage 1: eval" in out
    assert out.index("Stage 0: train") < out.index("Stage 1: eval")
    chosen_lines = [line for line in out.splitlines() if line.startswith("Chosen:")]
    train, evaluate = expected_stages(raw_catalog)
    assert len(chosen_lines) == 2
    assert chosen_lines[0].startswith(f"Chosen: {train.winner.cloud} {train.winner.instance_type} in {train.winner.region}")
    assert chosen_lines[1].startswith(f"Chosen: {evaluate.winner.cloud} {evaluate.winner.instance_type} in {evaluate.winner.region}")
    assert "Data moved between stages: $0.00" in out
    total = re.search(r"Estimated total: \$([0-9,.]+) \(placement by chain-dp\)", out)
    assert total, out
    assert float(total.group(1).replace(",", "")) == pytest.approx(train.price + evaluate.price, abs=0.005)


def test_pipeline_example_in_a_subprocess(planning_home, raw_catalog: RawCatalog):
    result = run_cli(planning_home, "optimize", EXAMPLE, "--all-clouds", "--hours", "2", "--output", "json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    train, evaluate = expected_stages(raw_catalog)
    assert doc["estimated_cost"] == pytest.approx(2 * (train.price + evaluate.price))
    assert all(s["estimated_hours"] == 2.0 for s in doc["stages"])
