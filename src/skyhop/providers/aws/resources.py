"""The per-cluster resources around the instances: key pair, security group, placement group.

Each is named after the owner and cluster (`_owned.resource_name`), carries
the ownership marks as tags, and is made idempotently: a leftover of an
earlier launch of the same cluster (a crash, a failed cleanup) is taken over
and re-tagged with this launch's id, so removal by the launch's tag finds it.
Removal selects by the marks (owner + cluster) and tolerates what is already
gone. One key pair per cluster rather than per user: `down` then leaves
nothing of the cluster, and two clusters never share a resource whose
removal would need counting.
"""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

from skyhop.providers import _owned
from skyhop.providers.aws.ec2 import Ec2
from skyhop.providers.errors import ProviderError

#: How long a security group may still be in use by terminating instances' interfaces before giving up.
SG_RELEASE_S = 120.0


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def tag_spec(kind: str, tags: Mapping[str, str]) -> list[dict[str, object]]:
    return [{"ResourceType": kind, "Tags": tag_list(tags)}]


def mark_filters(owner: str, cluster: str | None = None, launch_id: str | None = None) -> list[dict[str, object]]:
    """DescribeX filters selecting this installation's resources (of one cluster, or one launch)."""
    filters: list[dict[str, object]] = [{"Name": f"tag:{_owned.OWNER}", "Values": [owner]}]
    if cluster is not None:
        filters.append({"Name": f"tag:{_owned.CLUSTER}", "Values": [cluster]})
    if launch_id is not None:
        filters.append({"Name": f"tag:{_owned.LAUNCH}", "Values": [launch_id]})
    return filters


def name_for(owner: str, cluster: str) -> str:
    return _owned.resource_name(owner, cluster, limit=255)


def ensure_key_pair(api: Ec2, name: str, public_key: str, tags: Mapping[str, str]) -> str:
    """Import skyhop's public key as `name`; an existing pair of that name (ours: the name holds the owner id) is replaced."""
    params: dict[str, Any] = {"KeyName": name, "PublicKeyMaterial": public_key.encode(), "TagSpecifications": tag_spec("key-pair", tags)}
    if not api.call("ImportKeyPair", ok=("InvalidKeyPair.Duplicate",), **params):
        api.call("DeleteKeyPair", KeyName=name)
        api.call("ImportKeyPair", **params)
    return name


def parse_ports(ports: Sequence[str]) -> list[tuple[int, int]]:
    """`8080` / `10000-10010` (as the task wrote them) -> (from, to) ranges."""
    out = []
    for spec in ports:
        low, _, high = str(spec).partition("-")
        first, last = int(low), int(high or low)
        if not (0 < first <= last <= 65535):
            raise ProviderError(f"Port range '{spec}' is not within 1-65535.")
        out.append((first, last))
    return out


def ensure_security_group(api: Ec2, name: str, vpc_id: str, ports: Sequence[str], tags: Mapping[str, str]) -> str:
    """The cluster's security group in `vpc_id`: SSH and the task's ports from anywhere, all traffic among its nodes."""
    made = api.call(
        "CreateSecurityGroup", ok=("InvalidGroup.Duplicate",), GroupName=name, VpcId=vpc_id,
        Description=f"skyhop cluster {tags.get(_owned.CLUSTER, '')}", TagSpecifications=tag_spec("security-group", tags),
    )
    group_id = made.get("GroupId")
    if not group_id:
        found = api.call("DescribeSecurityGroups", Filters=[{"Name": "group-name", "Values": [name]}, {"Name": "vpc-id", "Values": [vpc_id]}])
        group_id = found["SecurityGroups"][0]["GroupId"]
        api.call("CreateTags", Resources=[group_id], Tags=tag_list(tags))  # this launch's id: its cleanup finds the group
    api.call("AuthorizeSecurityGroupIngress", ok=("InvalidPermission.Duplicate",), GroupId=group_id,
             IpPermissions=[{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": group_id}]}])
    open_ports(api, group_id, ["22", *ports])
    return group_id


def open_ports(api: Ec2, group_id: str, ports: Sequence[str]) -> None:
    """TCP `ports` open to anywhere; one call per range, so one that is already open leaves the others to add."""
    for first, last in parse_ports(ports):
        api.call("AuthorizeSecurityGroupIngress", ok=("InvalidPermission.Duplicate",), GroupId=group_id,
                 IpPermissions=[{"IpProtocol": "tcp", "FromPort": first, "ToPort": last, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])


def ensure_placement_group(api: Ec2, name: str, tags: Mapping[str, str]) -> str:
    """A `cluster` placement group (low latency between the nodes), taken over when it exists."""
    made = api.call("CreatePlacementGroup", ok=("InvalidPlacementGroup.Duplicate",), GroupName=name, Strategy="cluster",
                    TagSpecifications=tag_spec("placement-group", tags))
    if not made:
        found = api.call("DescribePlacementGroups", GroupNames=[name]).get("PlacementGroups", [])
        if found and found[0].get("GroupId"):
            api.call("CreateTags", Resources=[found[0]["GroupId"]], Tags=tag_list(tags))
    return name


def remove(api: Ec2, owner: str, cluster: str, *, placement_groups: bool) -> None:
    """Delete the cluster's security groups, key pairs and (when it may have one) placement groups.

    Its instances must be gone first. `placement_groups` is false when the
    cluster never used one (`aws.use_placement_group` off): no call is made
    for what was never created.
    """
    filters = mark_filters(owner, cluster)
    for group in api.call("DescribeSecurityGroups", Filters=filters).get("SecurityGroups", []):
        delete_security_group(api, group["GroupId"])
    if placement_groups:
        for group in api.call("DescribePlacementGroups", Filters=filters).get("PlacementGroups", []):
            api.call("DeletePlacementGroup", ok=("InvalidPlacementGroup.Unknown",), GroupName=group["GroupName"])
    for pair in api.call("DescribeKeyPairs", Filters=filters).get("KeyPairs", []):
        api.call("DeleteKeyPair", ok=("InvalidKeyPair.NotFound",), KeyName=pair["KeyName"])


def delete_security_group(api: Ec2, group_id: str) -> None:
    """Delete one group; while terminated instances' interfaces still hold it (DependencyViolation), wait."""
    deadline = time.monotonic() + SG_RELEASE_S
    while True:
        try:
            api.call("DeleteSecurityGroup", ok=("InvalidGroup.NotFound",), GroupId=group_id)
            return
        except ProviderError as error:
            if "DependencyViolation" not in str(error) or time.monotonic() >= deadline:
                raise
        time.sleep(2.0)
