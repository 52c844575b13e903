"""The emulated AWS that the AWS tests stand on: boto3 finds moto_server through AWS_ENDPOINT_URL
alone, and sees the seeded test network."""

from __future__ import annotations

import os

from cloudsim.aws import MOTO_IMAGE as IMAGE
from cloudsim.aws import REGIONS, VPC_NAME, client


def test_boto3_reaches_moto_through_aws_endpoint_url_and_sees_the_test_network(aws_cloud):
    import boto3

    assert os.environ["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    for region in REGIONS:
        ec2 = boto3.client("ec2", region_name=region)  # no endpoint_url: the environment alone decides
        vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [VPC_NAME]}])["Vpcs"]
        assert [(v["VpcId"], v["CidrBlock"]) for v in vpcs] == [(aws_cloud.vpcs[region], f"{aws_cloud.prefix}.0/24")]
        subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [aws_cloud.vpcs[region]]}])["Subnets"]
        seen = {s["AvailabilityZone"]: (s["SubnetId"], s["CidrBlock"], s["AvailabilityZoneId"]) for s in subnets}
        assert seen == {zone: (s.subnet_id, s.cidr, s.zone_id) for zone, s in aws_cloud.subnets[region].items()}
        assert len(seen) >= 3
        # Above the farm hosts (.2-.31), one /27 per zone, none overlapping.
        starts = sorted(int(cidr.split(".")[3].split("/")[0]) for _, cidr, _ in seen.values())
        assert starts[0] == 32 and all(b - a == 32 for a, b in zip(starts, starts[1:]))


def test_an_instance_in_a_test_subnet_gets_an_adoptable_private_ip(aws_cloud):
    import boto3

    subnet = aws_cloud.subnets["us-east-1"]["us-east-1b"]
    ec2 = boto3.client("ec2", region_name="us-east-1")
    made = ec2.run_instances(ImageId=IMAGE, InstanceType="m6i.large", MinCount=1, MaxCount=1, SubnetId=subnet.subnet_id)["Instances"][0]
    prefix, _, last = made["PrivateIpAddress"].rpartition(".")
    assert prefix == aws_cloud.prefix and 32 + 32 <= int(last) < 32 + 64, made["PrivateIpAddress"]
    assert made["Placement"]["AvailabilityZone"] == "us-east-1b"


def test_reset_forgets_what_a_test_made(aws_cloud, moto_server):
    ec2 = client("ec2", "us-west-2", moto_server.url)
    ec2.create_security_group(GroupName="left-behind", Description="made by a test", VpcId=aws_cloud.vpcs["us-west-2"])
    moto_server.reset()
    names = {g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]}
    assert "left-behind" not in names
    assert not ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [VPC_NAME]}])["Vpcs"]
