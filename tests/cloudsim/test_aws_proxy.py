"""The fault-injecting proxy: everything reaches moto unchanged unless a rule answers it, and the call
log says what happened. Clients here are the code under test's kind: boto3 driven by AWS_ENDPOINT_URL."""

from __future__ import annotations

import pytest

from cloudsim.aws import MOTO_IMAGE as IMAGE
from cloudsim.aws import VPC_NAME
from cloudsim.aws_proxy import Rule
from cloudsim.aws_wire import CAPACITY_MESSAGE
from skyhop.providers.errors import CLOUD, REGION, ZONE, AuthError, CapacityError, ProviderError, QuotaError


def ec2(region: str = "us-east-1", read_timeout: float = 30.0):
    import boto3
    from botocore.config import Config

    return boto3.client("ec2", region_name=region, config=Config(retries={"mode": "standard", "total_max_attempts": 1}, read_timeout=read_timeout))


def launch(region: str, subnet_id: str, instance_type: str = "p5.48xlarge", **extra):
    return ec2(region).run_instances(ImageId=IMAGE, InstanceType=instance_type, MinCount=1, MaxCount=1, SubnetId=subnet_id, **extra)


def typed(error: BaseException, region: str = "us-east-1", zone: str | None = None) -> ProviderError:
    from skyhop.providers.aws.errors import translate

    return translate(error, region=region, zone=zone)


def test_calls_pass_through_to_moto_and_are_logged(aws_proxy, aws_cloud):
    vpcs = ec2("us-west-2").describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [VPC_NAME]}])["Vpcs"]
    assert [v["VpcId"] for v in vpcs] == [aws_cloud.vpcs["us-west-2"]]
    [logged] = aws_proxy.calls()
    assert (logged.call.service, logged.call.region, logged.call.action, logged.status, logged.injected) == ("ec2", "us-west-2", "DescribeVpcs", 200, False)


def test_capacity_in_one_zone_fails_there_and_the_next_zone_launches(aws_proxy, aws_cloud):
    from botocore.exceptions import ClientError

    zones = aws_cloud.subnets["us-east-1"]
    message = CAPACITY_MESSAGE.format(type="p5.48xlarge", zone="us-east-1a", others="us-east-1b, us-east-1c")
    aws_proxy.add(Rule("RunInstances", "InsufficientInstanceCapacity", message, status=500, zone="us-east-1a", instance_type="p5.48xlarge"))
    with pytest.raises(ClientError) as raised:
        launch("us-east-1", zones["us-east-1a"].subnet_id)
    error = typed(raised.value, zone="us-east-1a")
    assert type(error) is CapacityError and error.scope == ZONE and "sufficient p5.48xlarge capacity" in str(error)
    # Same type in another zone, and another type in the same zone, reach moto.
    made = launch("us-east-1", zones["us-east-1b"].subnet_id)["Instances"][0]
    other = launch("us-east-1", zones["us-east-1a"].subnet_id, instance_type="m6i.large")["Instances"][0]
    assert made["Placement"]["AvailabilityZone"] == "us-east-1b" and other["InstanceType"] == "m6i.large"
    runs = [(c.zone, c.call.params["InstanceType"], c.injected) for c in aws_proxy.calls("RunInstances")]
    assert runs == [("us-east-1a", "p5.48xlarge", True), ("us-east-1b", "p5.48xlarge", False), ("us-east-1a", "m6i.large", False)]
    described = ec2().describe_instances()["Reservations"]
    assert sorted(i["InstanceId"] for r in described for i in r["Instances"]) == sorted([made["InstanceId"], other["InstanceId"]]), "the refused call created nothing"


def test_rules_match_region_market_and_count(aws_proxy, aws_cloud):
    from botocore.exceptions import ClientError

    east2 = next(iter(aws_cloud.subnets["us-east-2"].values())).subnet_id
    aws_proxy.add(Rule("RunInstances", "MaxSpotInstanceCountExceeded", "Max spot instance count exceeded", region="us-east-2", market="spot", times=1))
    spot = {"InstanceMarketOptions": {"MarketType": "spot", "SpotOptions": {"SpotInstanceType": "one-time"}}}
    launch("us-east-2", east2, instance_type="m6i.large")  # on-demand: not matched
    with pytest.raises(ClientError) as raised:
        launch("us-east-2", east2, instance_type="m6i.large", **spot)
    error = typed(raised.value, region="us-east-2")
    assert type(error) is QuotaError and error.scope == REGION
    again = launch("us-east-2", east2, instance_type="m6i.large", **spot)["Instances"][0]  # times=1: used up
    assert again["InstanceLifecycle"] == "spot"
    assert [c.injected for c in aws_proxy.calls("RunInstances")] == [False, True, False]


def test_auth_errors_in_sts_shape(aws_proxy):
    import boto3
    from botocore.exceptions import ClientError

    aws_proxy.add(Rule("GetCallerIdentity", "ExpiredToken", "The security token included in the request is expired", status=403))
    with pytest.raises(ClientError) as raised:
        boto3.client("sts", region_name="us-east-1").get_caller_identity()
    error = typed(raised.value)
    assert type(error) is AuthError and error.scope == CLOUD
    assert aws_proxy.calls()[0].call.service == "sts"


def test_a_held_call_times_out_the_client_and_then_goes_on(aws_proxy, aws_cloud):
    from botocore.exceptions import ReadTimeoutError

    aws_proxy.add(Rule("DescribeInstances", hold_s=20.0, times=1))
    with pytest.raises(ReadTimeoutError) as raised:
        ec2(read_timeout=1.0).describe_instances()
    error = typed(raised.value)
    assert isinstance(error, ProviderError) and type(error).__name__ == "ApiTimeout" and error.scope == REGION
    assert ec2().describe_instances()["Reservations"] == []  # the rule is used up: the next call goes through
    aws_proxy.clear()  # releases the held call


def test_placement_groups_are_answered_by_the_proxy_in_ec2_shapes(aws_proxy):
    """moto has none; the proxy's table answers Create/Describe/Delete as the EC2 API reference shows them."""
    from botocore.exceptions import ClientError

    tags = [{"ResourceType": "placement-group", "Tags": [{"Key": "skyhop-cluster", "Value": "pg"}]}]
    made = ec2().create_placement_group(GroupName="pg-one", Strategy="cluster", TagSpecifications=tags)["PlacementGroup"]
    assert (made["GroupName"], made["Strategy"], made["State"]) == ("pg-one", "cluster", "available") and made["GroupId"].startswith("pg-")
    with pytest.raises(ClientError, match="InvalidPlacementGroup.Duplicate"):
        ec2().create_placement_group(GroupName="pg-one", Strategy="cluster")
    found = ec2().describe_placement_groups(Filters=[{"Name": "tag:skyhop-cluster", "Values": ["pg"]}])["PlacementGroups"]
    assert [(g["GroupName"], g["Tags"]) for g in found] == [("pg-one", [{"Key": "skyhop-cluster", "Value": "pg"}])]
    assert ec2("us-west-2").describe_placement_groups()["PlacementGroups"] == [], "groups are per region"
    ec2().delete_placement_group(GroupName="pg-one")
    with pytest.raises(ClientError, match="InvalidPlacementGroup.Unknown"):
        ec2().delete_placement_group(GroupName="pg-one")
    assert aws_proxy.placement_groups.names() == []
