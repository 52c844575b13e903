"""AWS end to end: the real CLI and API server, boto3 to moto through the proxy, the job on a namespace host.

The API server inherits this process's environment (AWS_ENDPOINT_URL names the
proxy, fake credentials) and reads the config.yaml `aws_home` writes. When
RunInstances succeeds, the proxy gives each instance's private address to a
`cloud_farm` host holding the key pair's public key, so skyhop's unchanged SSH
path runs the job "on the instance"; stop, start and terminate pause, resume
and release that host.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_support import aws_instances, aws_leftovers, cli_on_aws

pytest.importorskip("boto3")


@pytest.fixture
def aws_prefix(cloud_farm) -> str:
    return cloud_farm.prefix  # moto hands out addresses the farm's hosts can take on


@pytest.fixture
def sky(cloud_farm, aws_proxy, aws_home: Path, aws_catalog: Path, tmp_path: Path, migrated_state_db):
    aws_proxy.adopter = cloud_farm
    runner = cli_on_aws(aws_home, aws_catalog, tmp_path, migrated_state_db)
    yield runner
    runner.teardown()


def actions(proxy, *names: str) -> list[str]:
    return [c.call.action for c in proxy.calls() if c.call.action in names]


@pytest.mark.slow
def test_launch_runs_the_job_on_the_instance_then_stop_start_down(sky, aws_proxy, cloud_farm, moto_server):
    from cloudsim.aws_proxy import Rule
    from cloudsim.aws_wire import CAPACITY_MESSAGE

    assert "123456789012" in next(r for r in sky.json("check") if r["name"] == "aws")["reason"], "check asked STS"
    # The cheapest zone (use1-az1, us-east-1b here) is full: the launch moves to the next one.
    full = CAPACITY_MESSAGE.format(type="c6i.large", zone="us-east-1b", others="us-east-1a")
    aws_proxy.add(Rule("RunInstances", "InsufficientInstanceCapacity", full, status=500, zone="us-east-1b"))
    launched = sky("launch", "-y", "-c", "web", "--infra", "aws", "--cpus", "2", 'echo "ips=$SKYPILOT_NODE_IPS"; ip -4 -o addr show', check=True)
    [instance] = aws_instances(moto_server.url, "web")
    ip = instance["PrivateIpAddress"]
    assert f"ips={ip}" in launched.out, launched.out
    assert f"inet {ip}/32" in launched.out, "the job ran on the namespace host holding the instance's address"
    assert cloud_farm.held() == {ip: cloud_farm.host_of(ip).name}
    runs = aws_proxy.calls("RunInstances")
    assert [(r.call.params["InstanceType"], r.zone, r.injected) for r in runs] == [("c6i.large", "us-east-1b", True), ("c6i.large", instance["Placement"]["AvailabilityZone"], False)]
    assert instance["InstanceType"] == "c6i.large" and instance["Placement"]["AvailabilityZone"] != "us-east-1b"
    assert "aws/us-east-1/use1-az1" in launched.out + launched.err and "sufficient c6i.large capacity" in launched.out + launched.err, "the failed attempt is shown"
    [cluster] = sky.json("status")
    assert (cluster["name"], cluster["status"]) == ("web", "UP")

    sky("stop", "-y", "web", check=True)
    assert actions(aws_proxy, "StopInstances") == ["StopInstances"]
    assert aws_instances(moto_server.url, "web")[0]["State"]["Name"] == "stopped"
    assert sky.json("status", "--refresh")[0]["status"] == "STOPPED"
    sky("start", "-y", "web", check=True)
    assert actions(aws_proxy, "StartInstances") == ["StartInstances"]
    again = sky("exec", "web", "ip -4 -o addr show", check=True)
    assert f"inet {ip}/32" in again.out

    aws_proxy.clear()  # the log from here on: what `down` calls
    sky("down", "-y", "web", check=True)
    assert actions(aws_proxy, "TerminateInstances", "DeleteSecurityGroup", "DeleteKeyPair") == ["TerminateInstances", "DeleteSecurityGroup", "DeleteKeyPair"]
    assert aws_leftovers(moto_server.url, "web") == {}
    assert cloud_farm.held() == {}
    assert sky.json("status") == []


@pytest.mark.slow
def test_two_nodes_in_a_placement_group_with_a_port(sky, aws_proxy, aws_home, cloud_farm, moto_server):
    from aws_support import configure_aws

    configure_aws(aws_home, use_placement_group=True)
    task = sky.task("pair.yaml", "num_nodes: 2\nresources:\n  cpus: 2\n  ports: 8080\nrun: |\n  echo ips=$SKYPILOT_NODE_IPS\n  ip -4 -o addr show\n")
    launched = sky("launch", "-y", "-c", "pair", "--infra", "aws", task, check=True)
    head, worker = aws_instances(moto_server.url, "pair")
    ips = [head["PrivateIpAddress"], worker["PrivateIpAddress"]]
    assert f"ips={ips[0]} {ips[1]}" in launched.out, launched.out
    assert all(f"inet {ip}/32" in launched.out for ip in ips), "each rank ran on the host holding its instance's address"
    assert sorted(cloud_farm.held()) == sorted(ips)
    [run] = aws_proxy.calls("RunInstances")
    assert (run.call.params["MinCount"], run.call.params["MaxCount"]) == ("2", "2")
    group = run.call.params["Placement.GroupName"]
    assert aws_proxy.placement_groups.names("us-east-1") == [group]
    from cloudsim.aws import client

    [sg] = client("ec2", "us-east-1", moto_server.url).describe_security_groups(GroupIds=[head["NetworkInterfaces"][0]["Groups"][0]["GroupId"]])["SecurityGroups"]
    opened = {(p.get("FromPort"), p.get("ToPort")) for p in sg["IpPermissions"] if p.get("IpRanges")}
    assert opened == {(22, 22), (8080, 8080)}

    sky("down", "-y", "pair", check=True)
    assert aws_leftovers(moto_server.url, "pair") == {} and aws_proxy.placement_groups.names() == []
    assert "DeletePlacementGroup" in actions(aws_proxy, "DeletePlacementGroup")
    assert cloud_farm.held() == {}


NO_SPOT = "There is no Spot capacity available that matches your request."


@pytest.mark.slow
def test_spot_only_without_spot_capacity_ends_in_one_clear_failover_error(sky, aws_proxy, moto_server):
    from cloudsim.aws_proxy import Rule

    aws_proxy.add(Rule("RunInstances", "InsufficientInstanceCapacity", NO_SPOT, status=500, market="spot"))
    failed = sky("launch", "-y", "-c", "spotonly", "--infra", "aws/us-east-2", "--cpus", "2", "--use-spot", "echo never")
    assert failed.code != 0
    runs = aws_proxy.calls("RunInstances")
    assert sorted(r.zone for r in runs) == ["us-east-2a", "us-east-2b", "us-east-2c"], "each zone once, then nothing is left"
    assert all(r.injected and r.call.params["InstanceMarketOptions.MarketType"] == "spot" for r in runs)
    assert "Nothing else is left to try" in failed.err and failed.err.count("InsufficientInstanceCapacity") >= 3
    assert aws_leftovers(moto_server.url, "spotonly", "us-east-2") == {}
    assert sky.json("status") == []


@pytest.mark.slow
def test_any_of_spot_then_on_demand_falls_back_when_no_zone_has_spot(sky, aws_proxy, moto_server):
    from cloudsim.aws_proxy import Rule

    aws_proxy.add(Rule("RunInstances", "InsufficientInstanceCapacity", NO_SPOT, status=500, market="spot"))
    task = sky.task("either.yaml", "resources:\n  cpus: 2\n  any_of:\n    - use_spot: true\n    - use_spot: false\nrun: echo fell back\n")
    launched = sky("launch", "-y", "-c", "either", "--infra", "aws/us-east-2", task)
    markets = [r.call.params.get("InstanceMarketOptions.MarketType", "on-demand") for r in aws_proxy.calls("RunInstances")]
    assert markets == ["spot"] * 3 + ["on-demand"] and launched.code == 0 and "fell back" in launched.out
    [instance] = aws_instances(moto_server.url, "either", "us-east-2")
    assert "InstanceLifecycle" not in instance
    sky("down", "-y", "either", check=True)


@pytest.mark.slow
def test_kill_9_while_ec2_creates_then_restart_refresh_and_down_leave_nothing(sky, aws_proxy, moto_server, cloud_farm):
    """The API server dies while RunInstances is in flight; the instance appears anyway. The next server
    (started by `status --refresh`) resumes the launch: it finds what the dead one made by its tags and
    removes it before launching again, and `down` then leaves no instance, group, key pair or orphan."""
    import os
    import signal

    from cloudsim.aws_proxy import Rule
    from e2e_support import pid_gone, wait_for

    aws_proxy.add(Rule("RunInstances", hold_s=6, times=1))  # a slow EC2: the call is in flight when the server dies
    client = sky.popen("launch", "-y", "-c", "crash", "--infra", "aws", "--cpus", "2", "echo ran-once")
    wait_for(lambda: sky.clusters().get("crash", {}).get("status") == "INIT", what="the launch to start provisioning")
    wait_for(lambda: "RunInstances" in aws_proxy.holding(), what="RunInstances to be in flight")
    pid = sky.server_pid()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: pid_gone(pid), what="the server to die")
    client.wait(timeout=60)
    # The held call goes on to EC2 although its caller is gone: an instance nobody recorded.
    first = wait_for(lambda: aws_instances(moto_server.url, "crash"), timeout=60, what="the held RunInstances to create the instance anyway")
    assert len(first) == 1

    sky("status", "--refresh", check=True)  # starts the next server, which resumes the launch
    wait_for(lambda: sky.clusters().get("crash", {}).get("status") == "UP", timeout=300, what="the resumed launch to bring the cluster up")
    live = aws_instances(moto_server.url, "crash")
    assert [i["InstanceId"] for i in live] != [first[0]["InstanceId"]] and len(live) == 1, "the leftover was removed, one new instance runs"
    sky("down", "-y", "crash", check=True, timeout=300)
    assert aws_leftovers(moto_server.url, "crash") == {}
    assert cloud_farm.held() == {}
    assert "No orphaned cloud resources." in sky("status", "--orphans", check=True).out


@pytest.mark.slow
def test_a_gpu_launch_gets_the_planned_gpu_instance_and_its_gpus(sky, aws_proxy, moto_server, cloud_farm):
    """`--gpus H100:8`: the planned p5.48xlarge, with the job told of its 8 GPUs (the namespace host has none:
    the agent schedules by the instance type's count, as on the real machine)."""
    launched = sky("launch", "-y", "-c", "gpu", "--infra", "aws", "--gpus", "H100:8", 'echo "gpus=$CUDA_VISIBLE_DEVICES"', check=True, timeout=300)
    [instance] = aws_instances(moto_server.url, "gpu")
    assert instance["InstanceType"] == "p5.48xlarge"
    assert "gpus=0,1,2,3,4,5,6,7" in launched.out
    [run] = aws_proxy.calls("RunInstances")
    assert run.call.params["InstanceType"] == "p5.48xlarge"
    sky("down", "-y", "gpu", check=True, timeout=300)
    assert aws_leftovers(moto_server.url, "gpu") == {} and cloud_farm.held() == {}
