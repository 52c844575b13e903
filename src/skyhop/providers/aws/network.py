"""Where in a region the instances go: the zone (by name), the VPC and the subnet.

The AWS catalog names zones by id (`use1-az6`, the same zone for every
account), while EC2 calls, error messages and people use the zone's name in
this account (`us-east-1a`, which maps to different ids per account). Offers
keep the catalog's id, so failover blocks the zone the catalog priced; the
provider maps it to the name with DescribeAvailabilityZones (cached per
process) and accepts a name too. The VPC is `aws.vpc_name` (the `Name` tag, as
in SkyPilot) or the region's default VPC; the subnet is the one in that zone
with the most free addresses. The subnet is always passed: without one EC2
picks an address outside any subnet skyhop chose.
"""

from __future__ import annotations

from dataclasses import dataclass

from skyhop.providers.aws.ec2 import Ec2
from skyhop.providers.errors import REGION, ZONE, ProviderError


@dataclass(frozen=True)
class Placement:
    vpc_id: str
    subnet_id: str
    zone: str  # name
    zone_id: str | None


def zone_name(api: Ec2, zone: str) -> tuple[str, str]:
    """(name, id) of a zone given by either; a zone the region lacks is that zone's failure."""
    names = api.zone_names()
    if zone in names:
        return names[zone], zone
    for zone_id, name in names.items():
        if name == zone:
            return name, zone_id
    raise ProviderError(f"AWS region {api.region} has no availability zone '{zone}' (it has {', '.join(sorted(names.values()))}).", scope=ZONE)


def vpc_of(api: Ec2, vpc_name: str | None) -> str:
    if vpc_name:
        vpcs = api.call("DescribeVpcs", Filters=[{"Name": "tag:Name", "Values": [vpc_name]}]).get("Vpcs", [])
        if len(vpcs) != 1:
            found = "none" if not vpcs else f"{len(vpcs)} ({', '.join(v['VpcId'] for v in vpcs)})"
            raise ProviderError(f"aws.vpc_name is '{vpc_name}', but {api.region} has {found} VPCs of that name; exactly one is needed.", scope=REGION)
        return str(vpcs[0]["VpcId"])
    vpcs = api.call("DescribeVpcs", Filters=[{"Name": "is-default", "Values": ["true"]}]).get("Vpcs", [])
    if not vpcs:
        raise ProviderError(f"{api.region} has no default VPC; name one with aws.vpc_name in config.yaml.", scope=REGION)
    return str(vpcs[0]["VpcId"])


def place(api: Ec2, vpc_name: str | None, zone: str | None) -> Placement:
    """The subnet for the instances: in `zone` when the offer names one, else the roomiest in the VPC."""
    named, zone_id = zone_name(api, zone) if zone else (None, None)
    vpc_id = vpc_of(api, vpc_name)
    filters = [{"Name": "vpc-id", "Values": [vpc_id]}]
    if named:
        filters.append({"Name": "availability-zone", "Values": [named]})
    subnets = api.call("DescribeSubnets", Filters=filters).get("Subnets", [])
    if not subnets:
        where = f"zone {named}" if named else api.region
        raise ProviderError(f"VPC {vpc_id} has no subnet in {where}.", scope=ZONE if named else REGION)
    best = max(subnets, key=lambda s: (int(s.get("AvailableIpAddressCount", 0)), s["SubnetId"]))
    return Placement(vpc_id, str(best["SubnetId"]), str(best["AvailabilityZone"]), zone_id or best.get("AvailabilityZoneId"))
