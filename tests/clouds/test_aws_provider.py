"""The AWS provider against moto, through the fault-injecting proxy, in-process (providers/aws).

Every EC2/STS/SSM call the provider makes is real boto3 over HTTP to moto
(AWS_ENDPOINT_URL names the proxy). The test's own boto3 client goes straight
to moto to check what exists. Where a launch must reach its instance, the
proxy hands each new private address to a namespace host of `cloud_farm`.
"""

from __future__ import annotations

import pytest
from aws_support import aws_leftovers, configure_aws
from cloudsim.aws import MOTO_IMAGE, VPC_NAME, client
from cloudsim.aws_proxy import Rule
from cloudsim.aws_wire import CAPACITY_MESSAGE

from skyhop.catalog.offer import Offer
from skyhop.providers import _owned, base
from skyhop.providers.base import LaunchRequest
from skyhop.providers.errors import CLOUD, REGION, ZONE, AuthError, CapacityError, LaunchCancelled, NotSupportedError, ProviderError, QuotaError

pytest.importorskip("boto3")

M6I = Offer("aws", "m6i.large", None, 0.0, 2.0, 8.0, "us-east-1", "use1-az1", 0.096, 0.0417, None)  # use1-az1 is us-east-1b in moto


def request(name: str, offer: Offer = M6I, **fields) -> LaunchRequest:
    return LaunchRequest(name, offer, fields.pop("num_nodes", 1), user="alice", launch_id=_owned.new_launch_id(), owner_id=_owned.owner_id(), **fields)


def provider():
    from skyhop.providers.aws.provider import AWSProvider

    return AWSProvider()


@pytest.fixture
def aws_prefix(cloud_farm) -> str:
    return cloud_farm.prefix  # moto hands out addresses the farm's hosts can take on


@pytest.mark.slow
def test_launch_query_stop_start_find_and_terminate(cloud_farm, aws_proxy, aws_cloud, aws_home, moto_server):
    aws_proxy.adopter = cloud_farm
    aws = provider()
    wanted = request("b4", labels={"team": "ml"}, disk_size_gb=100, disk_tier="high")
    info = aws.launch(wanted)
    facts = info.data["aws"]
    ec2 = client("ec2", "us-east-1", moto_server.url)
    [instance] = [i for r in ec2.describe_instances(InstanceIds=list(facts["instance_ids"]))["Reservations"] for i in r["Instances"]]
    assert instance["InstanceType"] == "m6i.large" and instance["Placement"]["AvailabilityZone"] == "us-east-1b"
    assert instance["ImageId"] == MOTO_IMAGE and "InstanceLifecycle" not in instance  # on demand
    tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
    assert tags == {"team": "ml", "Name": "skyhop-b4", **_owned.marks("b4", "alice", wanted.launch_id, wanted.owner_id)}
    [nic] = instance["NetworkInterfaces"]  # moto lists the groups given on the interface there only
    assert [g["GroupId"] for g in nic["Groups"]] == [facts["security_group_id"]] and instance["KeyName"] == facts["key_name"]
    [group] = ec2.describe_security_groups(GroupIds=[facts["security_group_id"]])["SecurityGroups"]
    assert group["VpcId"] == aws_cloud.vpcs["us-east-1"]
    assert any(p.get("FromPort") == 22 and p["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}] for p in group["IpPermissions"])
    [volume] = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": list(facts["instance_ids"])}])["Volumes"]
    assert (volume["Size"], volume["VolumeType"]) == (100, "gp3")
    [run] = aws_proxy.calls("RunInstances")  # moto keeps gp3's baseline IOPS on the volume; the request asked for the tier's
    assert (run.call.params["BlockDeviceMapping.1.Ebs.Iops"], run.call.params["BlockDeviceMapping.1.DeviceName"]) == ("7000", "/dev/xvda")
    assert {t["Key"]: t["Value"] for t in volume["Tags"]}[_owned.CLUSTER] == "b4"
    [key] = ec2.describe_key_pairs(KeyNames=[facts["key_name"]])["KeyPairs"]
    assert {t["Key"]: t["Value"] for t in key["Tags"]}[_owned.LAUNCH] == wanted.launch_id
    assert (info.region, info.zone, facts["zone"], info.head.ip) == ("us-east-1", "use1-az1", "us-east-1b", instance["PrivateIpAddress"])
    head = aws.runner(info, info.head)
    assert head.run(["test", "-d", info.head.base]).returncode == 0
    assert aws.query(info) == base.Observed(base.RUNNING)
    assert {(r.kind, r.cluster) for r in aws.owned()} == {("instance", "b4"), ("security-group", "b4"), ("key-pair", "b4")}

    aws.stop(info)
    assert aws.query(info) == base.Observed(base.STOPPED)
    assert ec2.describe_instances(InstanceIds=list(facts["instance_ids"]))["Reservations"][0]["Instances"][0]["State"]["Name"] == "stopped"
    started = aws.start(info)
    assert aws.query(started) == base.Observed(base.RUNNING)
    assert aws.runner(started, started.head).run(["test", "-d", info.head.base], timeout=60).returncode == 0

    found = aws.find("b4")  # as after a crash: by tags, in every catalog region
    assert found is not None and found.data["aws"]["unfinished"] and found.data["aws"]["instance_ids"] == facts["instance_ids"]
    assert aws.query(found) == base.Observed(base.TERMINATED)
    aws.terminate(found)
    assert aws_leftovers(moto_server.url, "b4") == {}
    assert cloud_farm.held() == {}
    aws.terminate(info)  # idempotent: everything is already gone
    assert aws.query(info) == base.Observed(base.TERMINATED)
    assert aws.find("b4") is None
    assert [c.call.action for c in aws_proxy.calls("TerminateInstances")] == ["TerminateInstances"]


def test_a_capacity_error_removes_what_the_launch_made(aws_proxy, aws_home, moto_server):
    message = CAPACITY_MESSAGE.format(type="m6i.large", zone="us-east-1b", others="us-east-1a")
    aws_proxy.add(Rule("RunInstances", "InsufficientInstanceCapacity", message, status=500, zone="us-east-1b"))
    with pytest.raises(CapacityError, match="sufficient m6i.large capacity") as raised:
        provider().launch(request("full"))
    assert raised.value.scope == ZONE
    assert len(aws_proxy.calls("RunInstances")) == 1, "no retry of a create: one attempt, then failover decides"
    assert aws_leftovers(moto_server.url, "full") == {}
    assert {"DeleteSecurityGroup", "DeleteKeyPair"} <= {c.call.action for c in aws_proxy.calls()}


def test_a_cancel_while_starting_terminates_the_instances(aws_proxy, aws_home, moto_server):
    with pytest.raises(LaunchCancelled):
        provider().launch(request("gone", cancelled=lambda: True))
    [terminated] = aws_proxy.calls("TerminateInstances")
    assert terminated.call.params["InstanceId.1"].startswith("i-")
    assert aws_leftovers(moto_server.url, "gone") == {}


def test_a_missing_image_is_one_clear_error_before_anything_is_made(aws_proxy, aws_home, moto_server):
    with pytest.raises(ProviderError, match="does not exist in us-east-1") as raised:
        provider().launch(request("noimage", image_id="ami-0000000000badbad"))
    assert raised.value.scope is None, "no other zone or region has it either: the launch ends"
    created = {c.call.action for c in aws_proxy.calls()} & {"ImportKeyPair", "CreateSecurityGroup", "RunInstances"}
    assert created == set() and aws_leftovers(moto_server.url, "noimage") == {}


def test_a_zone_the_region_lacks_creates_nothing(aws_proxy, aws_home):
    nowhere = M6I._replace(zone="use1-az99")
    with pytest.raises(ProviderError, match="has no availability zone 'use1-az99'") as raised:
        provider().launch(request("nozone", nowhere))
    assert raised.value.scope == ZONE
    assert {c.call.action for c in aws_proxy.calls()} == {"DescribeAvailabilityZones"}


def test_check_asks_sts_and_says_why_not(aws_proxy, aws_home, monkeypatch):
    ok = provider().check()
    assert ok.enabled and "123456789012" in ok.reason
    aws_proxy.add(Rule("GetCallerIdentity", "InvalidClientTokenId", "The security token included in the request is invalid.", status=403))
    refused = provider().check()
    assert not refused.enabled and "InvalidClientTokenId" in refused.reason and "skyhop-test-secret" not in refused.reason
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    calls = len(aws_proxy.calls())
    missing = provider().check()
    assert not missing.enabled and "no credentials" in missing.reason and len(aws_proxy.calls()) == calls, "no call without credentials"


def test_bad_settings_are_one_clear_message(aws_home):
    from skyhop.errors import ConfigError
    from skyhop.providers.aws.settings import load

    configure_aws(aws_home, use_internal_ips="yes")
    with pytest.raises(ConfigError, match=r"aws.use_internal_ips: expected bool"):
        load()
    configure_aws(aws_home, vpc="x")
    with pytest.raises(ConfigError, match=r"aws.vpc: unknown setting"):
        load()


@pytest.mark.slow
def test_a_reclaimed_spot_instance_is_reported_preempted_with_the_reason(cloud_farm, aws_proxy, aws_home, moto_server):
    aws_proxy.adopter = cloud_farm
    aws = provider()
    info = aws.launch(request("spotty", use_spot=True, num_nodes=2))
    [run] = aws_proxy.calls("RunInstances")
    assert (run.call.params["InstanceMarketOptions.MarketType"], run.call.params["InstanceMarketOptions.SpotOptions.SpotInstanceType"]) == ("spot", "one-time")
    ids = info.data["aws"]["instance_ids"]
    described = client("ec2", "us-east-1", moto_server.url).describe_instances(InstanceIds=ids)["Reservations"][0]["Instances"]
    assert {i["InstanceLifecycle"] for i in described} == {"spot"} and all(n.extra["aws"]["spot"] for n in info.nodes)
    with pytest.raises(NotSupportedError, match="spot instances, which cannot be stopped"):
        aws.stop(info)
    assert aws_proxy.calls("StopInstances") == []
    aws_proxy.reclaim(ids[1])
    observed = aws.query(info)
    assert observed == base.Observed(base.PARTIAL, "node 1: preempted (Server.SpotInstanceTermination: Spot instance termination)")
    aws.terminate(info)
    assert aws_leftovers(moto_server.url, "spotty") == {} and cloud_farm.held() == {}


@pytest.mark.parametrize(("code", "status", "typed", "scope"), [
    ("UnauthorizedOperation", 403, AuthError, CLOUD),  # IAM denies RunInstances: no region of AWS will do
    ("VcpuLimitExceeded", 400, QuotaError, REGION),  # the account's vCPU quota in this region
])
def test_auth_and_quota_errors_carry_their_scope_and_leave_nothing(aws_proxy, aws_home, moto_server, code, status, typed, scope):
    aws_proxy.add(Rule("RunInstances", code, f"{code} (injected)", status=status))
    with pytest.raises(typed) as raised:
        provider().launch(request("refused"))
    assert raised.value.scope == scope and code in str(raised.value)
    assert aws_leftovers(moto_server.url, "refused") == {}


def test_the_default_image_comes_from_the_public_ssm_parameter_for_the_offer(aws_proxy, aws_home, moto_server):
    """Without aws.image_ssm_parameter, a GPU offer asks for AWS's Deep Learning AMI parameter and a CPU offer
    for Canonical's Ubuntu one; moto serves neither, so the answer is the region's clear failure."""
    from skyhop.providers.aws.settings import CPU_IMAGE_PARAMETER, GPU_IMAGE_PARAMETER

    configure_aws(aws_home, image_ssm_parameter=None)
    h100 = Offer("aws", "p5.48xlarge", "H100", 8.0, 192.0, 2048.0, "us-east-1", "use1-az6", 98.32, None, 80.0)
    for offer, parameter in [(h100, GPU_IMAGE_PARAMETER), (M6I, CPU_IMAGE_PARAMETER)]:
        with pytest.raises(ProviderError, match=f"The SSM parameter {parameter} does not exist in us-east-1") as raised:
            provider().launch(request("noami", offer))
        assert raised.value.scope == REGION
    assert [c.call.params["Name"] for c in aws_proxy.calls("GetParameter")] == [GPU_IMAGE_PARAMETER, CPU_IMAGE_PARAMETER]
    assert aws_leftovers(moto_server.url, "noami") == {}


def test_a_run_instances_that_times_out_is_a_region_failure_and_what_it_made_late_is_removed(aws_proxy, aws_home, moto_server):
    """The proxy holds RunInstances past the client's read timeout, then lets moto carry it out: the
    instances appear after the client gave up, and the launch's cleanup must still find and remove them."""
    configure_aws(aws_home, api_timeout_s=2)
    aws_proxy.add(Rule("RunInstances", hold_s=3.0, times=1))
    with pytest.raises(ProviderError, match="did not answer in time") as raised:
        provider().launch(request("slow"))
    assert raised.value.scope == REGION
    from e2e_support import wait_for

    wait_for(lambda: aws_proxy.calls("RunInstances"), timeout=30, what="the held RunInstances to reach moto")
    assert aws_leftovers(moto_server.url, "slow") == {}
    assert len(aws_proxy.calls("TerminateInstances")) == 1


def test_owned_lists_what_a_crashed_launch_left_and_remove_owned_removes_it(aws_proxy, aws_cloud, aws_home, moto_server):
    """As after a kill -9 between RunInstances and the record: marked resources no cluster record knows of."""
    from skyhop.providers.aws import instances, network, resources
    from skyhop.providers.aws.ec2 import Ec2
    from skyhop.providers.aws.images import Image
    from skyhop.providers.keys import user_key

    crashed = request("crashed")
    tags = _owned.marks("crashed", "alice", crashed.launch_id, crashed.owner_id)
    api = Ec2("us-east-2")
    where = network.place(api, VPC_NAME, "use2-az2")
    name = resources.name_for(crashed.owner_id, "crashed")
    resources.ensure_key_pair(api, name, user_key().public, tags)
    group = resources.ensure_security_group(api, name, where.vpc_id, ["8080"], tags)
    [instance] = instances.run(api, count=1, instance_type="m6i.large", image=Image(MOTO_IMAGE, None), placement=where, security_group=group,
                               key_name=name, tags=tags, spot=False, public_ip=False, token="skyhop-crashed")
    owned = provider().owned()
    assert sorted((r.kind, r.id, r.region, r.cluster) for r in owned) == sorted([
        ("instance", instance, "us-east-2", "crashed"), ("security-group", group, "us-east-2", "crashed"), ("key-pair", name, "us-east-2", "crashed"),
    ])
    provider().remove_owned(owned)
    assert aws_leftovers(moto_server.url, "crashed", "us-east-2") == {} and provider().owned() == []


def test_key_pair_and_security_group_are_taken_over_and_retagged_by_a_later_launch(aws_proxy, aws_cloud, aws_home, moto_server):
    """What an earlier launch of the cluster left (a failed cleanup) is reused, carrying the new launch id,
    so cleanup by the new launch's tag finds it; opening ports again or more adds only what is missing."""
    from skyhop.providers.aws import resources
    from skyhop.providers.aws.ec2 import Ec2
    from skyhop.providers.aws.provider import AWSProvider
    from skyhop.providers.keys import user_key

    api = Ec2("us-east-1")
    owner = _owned.owner_id()
    name = resources.name_for(owner, "again")
    vpc = aws_cloud.vpcs["us-east-1"]
    made = {}
    for launch in ("first", "second"):
        tags = _owned.marks("again", "alice", launch, owner)
        made[launch] = (resources.ensure_key_pair(api, name, user_key().public, tags), resources.ensure_security_group(api, name, vpc, ["8080"], tags))
    assert made["first"] == made["second"]
    ec2 = client("ec2", "us-east-1", moto_server.url)
    retagged = [{"Name": f"tag:{_owned.LAUNCH}", "Values": ["second"]}]
    assert [g["GroupId"] for g in ec2.describe_security_groups(Filters=retagged)["SecurityGroups"]] == [made["second"][1]]
    assert [k["KeyName"] for k in ec2.describe_key_pairs(Filters=retagged)["KeyPairs"]] == [name]
    facts = {"region": "us-east-1", "zone": "us-east-1a", "zone_id": "use1-az6", "owner": owner, "launch_id": "second", "security_group_id": made["second"][1]}
    from skyhop.providers.base import ClusterInfo

    AWSProvider().open_ports(ClusterInfo("aws", "again", "us-east-1", "use1-az6", (), {"aws": facts}), ["8080", "9000-9010"])
    [group] = ec2.describe_security_groups(GroupIds=[made["second"][1]])["SecurityGroups"]
    assert sorted((p.get("FromPort"), p.get("ToPort")) for p in group["IpPermissions"] if p.get("IpRanges")) == [(22, 22), (8080, 8080), (9000, 9010)]


def test_credentials_that_expire_mid_launch_name_what_is_left_and_down_removes_it_later(aws_proxy, aws_home, moto_server):
    """RunInstances went through, then the credentials expired: the wait and the cleanup are refused alike.
    The launch's own error says how to remove what is left (its record is gone: an orphan); once the
    credentials work again, `owned` (the orphan listing) finds all of it and `remove_owned` removes it."""
    expired = "Request has expired."
    for action in ("DescribeInstances", "TerminateInstances", "DeleteSecurityGroup", "DeleteKeyPair"):
        aws_proxy.add(Rule(action, "AuthFailure", expired, status=401))
    with pytest.raises(AuthError) as raised:
        provider().launch(request("expiring"))
    assert raised.value.scope == CLOUD and "skyhop down --orphans" in str(raised.value)
    assert aws_leftovers(moto_server.url, "expiring"), "nothing could be removed without credentials"

    aws_proxy.clear()  # the credentials work again: the orphan listing finds it all, and removes it
    left = [r for r in provider().owned() if r.cluster == "expiring"]
    assert {r.kind for r in left} == {"instance", "security-group", "key-pair"}
    provider().remove_owned(left)
    assert aws_leftovers(moto_server.url, "expiring") == {}
