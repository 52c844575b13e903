"""Autostop on AWS with no client around: the head stops or terminates its own instances through EC2.

The fault proxy listens on the namespace farm's bridge address here, so the
head (a namespace host holding the instance's address) reaches "EC2" as a
real instance reaches the regional endpoint, and signs the call itself
(skyhop_agent/cloudstop.py, SigV4) with the credentials in its 0600
self-stop file. moto then shows the instance stopped or terminated, and
`status --refresh` follows.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_support import aws_instances, aws_leftovers, cli_on_aws
from cloudsim.aws_proxy import AwsProxy
from e2e_support import wait_for

pytest.importorskip("boto3")
pytestmark = pytest.mark.slow


@pytest.fixture
def aws_prefix(cloud_farm) -> str:
    return cloud_farm.prefix


@pytest.fixture
def sky(cloud_farm, aws_cloud, moto_server, aws_home: Path, aws_catalog: Path, tmp_path: Path, migrated_state_db, monkeypatch):
    proxy = AwsProxy(moto_server.url, aws_cloud.zone_of_subnet(), host=f"{cloud_farm.prefix}.1", adopter=cloud_farm)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)  # the API server's and, through the self-stop file, the head's
    runner = cli_on_aws(aws_home, aws_catalog, tmp_path, migrated_state_db)
    try:
        yield runner
        runner.teardown()
    finally:
        proxy.stop()


def state(moto_url: str, cluster: str) -> str:
    found = aws_instances(moto_url, cluster)
    return found[0]["State"]["Name"] if found else "terminated"


def test_the_head_stops_then_terminates_its_own_instance(sky, moto_server, cloud_farm):
    sky("launch", "-y", "-c", "idle", "--infra", "aws", "--cpus", "2", "-d", "-i", "0", "echo short", check=True, timeout=300)
    [instance] = aws_instances(moto_server.url, "idle")
    head = cloud_farm.host_of(instance["PrivateIpAddress"])
    stop_file = next(Path(head.home).glob(".skyhop-node/idle/cloudstop.json"))
    assert oct(stop_file.stat().st_mode & 0o777) == "0o600" and "secret_access_key" in stop_file.read_text()

    wait_for(lambda: state(moto_server.url, "idle") == "stopped", timeout=180, what="the head to stop its own instance")
    assert sky.json("status", "--refresh")[0]["status"] == "STOPPED"

    sky("start", "idle", "-i", "0", "--down", check=True, timeout=300)
    wait_for(lambda: state(moto_server.url, "idle") == "terminated", timeout=180, what="the head to terminate its own instance")
    assert sky.json("status", "--refresh") == []  # the refresh finds the instance gone and removes the rest
    assert aws_leftovers(moto_server.url, "idle") == {}
    assert cloud_farm.held() == {}
