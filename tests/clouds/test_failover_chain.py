"""The failover chain of issue 10 through the real CLI: a whole cloud refused, two full zones, a region over quota.

GCP (its Compute replay server) is the cheapest cloud for 2 CPUs and answers
the insert with 401: the whole cloud is blocked. AWS (boto3 to moto through the
fault proxy) then answers InsufficientInstanceCapacity in its two cheapest
zones and VcpuLimitExceeded in the third: that zone's region is blocked. The
job runs on the next candidate, in another AWS region, on the namespace host
that took on the instance's private address. Each attempt is shown as it
happens and listed in `--output json` with its infra, instance type, error and
blocked scope; `down` leaves nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from aws_support import aws_instances, aws_leftovers, cli_on_aws, configure_aws
from cloudsim.aws_wire import CAPACITY_MESSAGE
from cloudsim.gcp_api import Rule as GcpRule
from cloudsim.gcp_fixtures import gcp_api  # noqa: F401 - fixture

pytest.importorskip("boto3")
pytestmark = pytest.mark.slow

QUOTA_MESSAGE = "You have requested more vCPU capacity than your current vCPU limit of 0 allows for the instance bucket that the specified instance type belongs to."


@pytest.fixture
def aws_prefix(cloud_farm) -> str:
    return cloud_farm.prefix


@pytest.fixture
def sky(cloud_farm, aws_proxy, gcp_api, isolated_home: Path, aws_catalog: Path, tmp_path: Path, migrated_state_db):  # noqa: F811
    aws_proxy.adopter = cloud_farm
    gcp = yaml.safe_load((isolated_home / ".skyhop" / "config.yaml").read_text())["gcp"]
    configure_aws(isolated_home)
    config = isolated_home / ".skyhop" / "config.yaml"
    config.write_text(yaml.safe_dump({**yaml.safe_load(config.read_text()), "gcp": gcp}))
    runner = cli_on_aws(isolated_home, aws_catalog, tmp_path, migrated_state_db)
    yield runner
    runner.teardown()


def test_auth_capacity_capacity_quota_then_the_job_runs(sky, aws_proxy, gcp_api, moto_server, cloud_farm):
    from cloudsim.aws_proxy import Rule

    plan = sky.json("optimize", "--cpus", "2")
    assert plan["cloud"] == "gcp", "GCP is the cheapest cloud for 2 CPUs here, AWS the next"
    gcp_api.add(GcpRule("insert", http_status=401))
    # EC2's first two RunInstances (whichever zones the plan tries first) find no capacity, the third no vCPU quota.
    full = CAPACITY_MESSAGE.format(type="c6i.large", zone="the zone you requested", others="another zone")
    aws_proxy.add(Rule("RunInstances", "InsufficientInstanceCapacity", full, status=500, times=2))
    aws_proxy.add(Rule("RunInstances", "VcpuLimitExceeded", QUOTA_MESSAGE, times=1))

    launched = sky("launch", "-y", "-c", "chain", "--cpus", "2", "--output", "json", "echo ran-after-the-chain", timeout=600)
    assert launched.code == 0, launched.out + launched.err
    attempts = json.loads(launched.out)["plan"]["attempts"]
    assert [(a["infra"].split("/")[0], a["scope"], a["outcome"]) for a in attempts] == [
        ("gcp", "cloud", "failed"), ("aws", "zone", "failed"), ("aws", "zone", "failed"), ("aws", "region", "failed"), ("aws", None, "launched"),
    ]
    assert all(a["instance_type"] for a in attempts)
    gcp, full_1, full_2, quota, landed = attempts
    assert gcp["blocked"] == {"cloud": "gcp", "region": None, "zone": None, "instance_type": None, "spot": None}
    assert "401" in gcp["reason"] or "credential" in gcp["reason"].lower()
    assert full_1["blocked"]["zone"] != full_2["blocked"]["zone"] and "capacity" in full_1["reason"]
    region = quota["infra"].split("/")[1]
    assert quota["blocked"] == {"cloud": "aws", "region": region, "zone": None, "instance_type": None, "spot": None}
    assert "vCPU" in quota["reason"]
    assert landed["infra"].split("/")[1] != region, "the region over quota was not tried again"

    # Each failed attempt was shown as it happened, before the job's output.
    for attempt in attempts[:-1]:
        assert f"{attempt['infra']} {attempt['instance_type']}:" in launched.err
    # ...and once more as the table of the whole chain, with the offer that launched.
    summary = launched.err.split(f"Launched on {landed['infra']} after 4 failed attempt(s):", 1)[1]
    assert "INFRA" in summary and "INSTANCE TYPE" in summary and "BLOCKED" in summary and "ERROR" in summary
    assert f"region aws/{region}" in summary and "cloud gcp" in summary and "launched" in summary

    # The job ran on the instance: the namespace host holding its private address.
    [instance] = aws_instances(moto_server.url, "chain", landed["infra"].split("/")[1])
    assert instance["PrivateIpAddress"] in cloud_farm.held()
    assert gcp_api.instances == {}, "the refused cloud created nothing"

    sky("down", "-y", "chain", check=True, timeout=300)
    for name in ("us-east-1", "us-east-2", "us-west-2"):
        assert aws_leftovers(moto_server.url, "chain", name) == {}
    assert cloud_farm.held() == {} and sky.json("status") == []
