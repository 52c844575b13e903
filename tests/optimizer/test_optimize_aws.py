"""Planning on AWS from real rows of SkyPilot's v8 AWS catalog (tests/catalog/fixtures/aws).

Every expected answer is derived from that CSV with nothing but `csv` (rawcsv),
never from skyhop's parser. The AWS catalog names zones by ID (`use1-az5`),
which is what a pinned zone matches here, with no AWS credentials to map IDs to
the account's zone names (docs/architecture.md, "AWS zones: IDs in the catalog").
"""

from __future__ import annotations

import pytest
from helpers import AWS_CATALOG_FIXTURE
from rawcsv import H100_SXM_SPELLINGS, RawCatalog
from test_optimize_cli import assert_chosen, plan_json
from test_optimize_infeasible import assert_one_paragraph_error


@pytest.fixture
def aws(aws_catalog, monkeypatch: pytest.MonkeyPatch) -> RawCatalog:
    """Plan against the shared catalogs plus the AWS fixture; returns the fixture's raw rows for expectations."""
    monkeypatch.setenv("SKYHOP_CATALOG_DIR", str(aws_catalog))
    return RawCatalog(AWS_CATALOG_FIXTURE.parent)  # a tree of one cloud: aws


def test_h100_8_on_aws_is_a_p5_48xlarge(cli, aws: RawCatalog):
    rows = aws.select(spellings=H100_SXM_SPELLINGS, count=8.0, cloud="aws")
    assert {r.instance_type for r in rows} == {"p5.48xlarge"}
    doc = plan_json(cli, "--gpus", "H100:8", "--infra", "aws")
    assert_chosen(doc, rows)
    assert (doc["cloud"], doc["instance_type"], doc["accelerator_count"]) == ("aws", "p5.48xlarge", 8.0)
    assert doc["zone"].startswith("use1-az"), "equal prices everywhere: the documented tie-break picks the first region and zone"


def test_h100_8_spot_takes_the_cheapest_zone(cli, aws: RawCatalog):
    rows = aws.select(spellings=H100_SXM_SPELLINGS, count=8.0, cloud="aws", spot=True)
    doc = plan_json(cli, "--gpus", "H100:8", "--infra", "aws", "--use-spot")
    assert_chosen(doc, rows, spot=True)
    assert (doc["region"], doc["zone"]) == ("us-east-1", "use1-az5")  # 14.246/h, the file's lowest p5 spot price


def test_two_cpus_on_aws(cli, aws: RawCatalog):
    rows = aws.select(cpu_only=True, cloud="aws", where=lambda r: r.vcpus == 2.0)
    assert {r.instance_type for r in rows} == {"c6i.large", "m6i.large"}
    doc = plan_json(cli, "--cpus", "2", "--infra", "aws")
    assert_chosen(doc, rows)
    assert doc["instance_type"] == "c6i.large" and doc["accelerators"] is None


def test_a100_8_prices_that_differ_in_the_sixth_decimal_pick_the_cheaper_region(cli, aws: RawCatalog):
    """The real file prices p4d.24xlarge at 21.957642 in us-east-1 and 21.95764 elsewhere."""
    rows = aws.select(spellings={"A100"}, count=8.0, cloud="aws")
    doc = plan_json(cli, "--gpus", "A100:8", "--infra", "aws")
    assert_chosen(doc, rows)
    assert doc["instance_type"] == "p4d.24xlarge" and doc["region"] != "us-east-1"


def test_a_pinned_zone_by_id(cli, aws: RawCatalog):
    rows = aws.select(spellings={"A10G"}, count=1.0, cloud="aws", zone="use1-az5", spot=True)
    doc = plan_json(cli, "--gpus", "A10G:1", "--use-spot", "--infra", "aws/us-east-1/use1-az5")
    assert_chosen(doc, rows, spot=True)
    assert (doc["instance_type"], doc["region"], doc["zone"]) == ("g5.xlarge", "us-east-1", "use1-az5")


def test_a_pinned_zone_without_the_type_has_no_offer(cli, aws: RawCatalog):
    """g5.xlarge is listed in usw2-az1..3 but not usw2-az4, where m6i.large is."""
    assert not aws.select(spellings={"A10G"}, count=1.0, cloud="aws", zone="usw2-az4")
    assert aws.select(cpu_only=True, cloud="aws", zone="usw2-az4")
    result = cli("optimize", "--all-clouds", "--gpus", "A10G:1", "--infra", "aws/us-west-2/usw2-az4")
    assert_one_paragraph_error(result.code, result.out, result.err)


def test_spot_where_the_catalog_has_no_spot_price_finds_no_aws_offer(cli, aws: RawCatalog):
    """p5.4xlarge (H100:1) has a blank SpotPrice in every fixture region."""
    assert aws.select(spellings=H100_SXM_SPELLINGS, count=1.0, cloud="aws")
    assert not aws.select(spellings=H100_SXM_SPELLINGS, count=1.0, cloud="aws", spot=True)
    result = cli("optimize", "--all-clouds", "--gpus", "H100:1", "--use-spot", "--infra", "aws")
    assert_one_paragraph_error(result.code, result.out, result.err)
    doc = plan_json(cli, "--gpus", "H100:1", "--infra", "aws")
    assert doc["instance_type"] == "p5.4xlarge" and doc["use_spot"] is False
