"""EC2 instances of one cluster: RunInstances, waiting for a state, reading them back, terminating them.

RunInstances asks for all nodes at once (MinCount = MaxCount = n: EC2 starts
all of them or none) with a ClientToken made of the launch id, so a retried
or timed-out call never creates a second set. Instances and their volumes
carry the ownership marks from the same call (TagSpecifications), so there
is no moment when a machine exists without the tag that finds it.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping, Sequence

from skyhop.providers.aws.ec2 import Ec2
from skyhop.providers.aws.images import Image
from skyhop.providers.aws.network import Placement
from skyhop.providers.aws.resources import tag_list
from skyhop.providers.errors import CapacityError, LaunchCancelled, ProviderError

POLL_S = 2.0
#: How long instances may stay `pending` before the zone counts as unable to deliver them.
RUNNING_WAIT_S = 600.0

# SkyPilot's disk tiers as EBS volume types and IOPS (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-volume-types.html).
_TIERS: dict[str, dict[str, Any]] = {
    "low": {"VolumeType": "standard"},
    "medium": {"VolumeType": "gp3"},
    "high": {"VolumeType": "gp3", "Iops": 7000, "Throughput": 500},
    "ultra": {"VolumeType": "io2", "Iops": 20000},
}
_TIERS["best"] = _TIERS["ultra"]

LIVE = ("pending", "running", "stopping", "stopped")
# StateReason codes of a spot instance EC2 took back (terminated, or stopped when the request said so)
# (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_StateReason.html).
SPOT_RECLAIM = frozenset({"Server.SpotInstanceTermination", "Server.SpotInstanceShutdown"})


def block_devices(image: Image, size_gb: int | None, tier: str | None) -> list[dict[str, Any]]:
    """The root volume's size and type, when the task sets either (else the image's own)."""
    if size_gb is None and tier is None:
        return []
    if tier is not None and tier not in _TIERS:
        raise ProviderError(f"disk_tier '{tier}' is not one of {', '.join(_TIERS)}.")
    ebs: dict[str, Any] = {"DeleteOnTermination": True, **_TIERS.get(tier or "medium", {})}
    if size_gb is not None:
        ebs["VolumeSize"] = int(size_gb)
    return [{"DeviceName": image.root_device or "/dev/sda1", "Ebs": ebs}]


def run(
    api: Ec2, *, count: int, instance_type: str, image: Image, placement: Placement, security_group: str, key_name: str,
    tags: Mapping[str, str], spot: bool, public_ip: bool, token: str, disk_size_gb: int | None = None,
    disk_tier: str | None = None, placement_group: str | None = None,
) -> list[str]:
    """Start `count` instances; their ids in launch order (rank order)."""
    params: dict[str, Any] = {
        "ImageId": image.image_id, "InstanceType": instance_type, "MinCount": count, "MaxCount": count, "KeyName": key_name,
        "ClientToken": token,
        "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": placement.subnet_id, "Groups": [security_group], "AssociatePublicIpAddress": public_ip}],
        "TagSpecifications": [{"ResourceType": kind, "Tags": tag_list(tags)} for kind in ("instance", "volume")],
    }
    devices = block_devices(image, disk_size_gb, disk_tier)
    if devices:
        params["BlockDeviceMappings"] = devices
    if spot:
        params["InstanceMarketOptions"] = {"MarketType": "spot", "SpotOptions": {"SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate"}}
    if placement_group:
        params["Placement"] = {"GroupName": placement_group}
    made = api.call("RunInstances", zone=placement.zone, once=True, **params)
    return [str(i["InstanceId"]) for i in sorted(made.get("Instances", []), key=lambda i: int(i.get("AmiLaunchIndex", 0)))]


def describe(api: Ec2, *, ids: Sequence[str] = (), filters: Sequence[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
    """Instances by id and/or filters. Ids go in as a filter: EC2 answers a filter with what it
    knows, where `InstanceIds` fails whole on one id it does not know (yet, or any more)."""
    wanted = [*filters, *([{"Name": "instance-id", "Values": list(ids)}] if ids else [])]
    return [i for r in api.pages("DescribeInstances", "Reservations", Filters=wanted) for i in r.get("Instances", [])]


def await_late(api: Ec2, filters: Sequence[Mapping[str, Any]], wait_s: float) -> list[str]:
    """Ids of instances that appear with `filters` within `wait_s` (a RunInstances whose answer never came
    may still be carried out; what it made must be found to be removed)."""
    deadline = time.monotonic() + wait_s
    while True:
        found = [i["InstanceId"] for i in describe(api, filters=filters) if i["State"]["Name"] != "terminated"]
        if found or time.monotonic() >= deadline:
            return found
        time.sleep(POLL_S)


def wait_for(
    api: Ec2, ids: Sequence[str], state: str, *, wait_s: float, cancelled: Callable[[], bool] = lambda: False, zone: str | None = None,
) -> list[dict[str, Any]]:
    """Poll until every instance is in `state`; ids in order. An instance that ends up terminated on
    the way to running is capacity the zone could not deliver (a spot request not fulfilled, a host fault)."""
    deadline = time.monotonic() + wait_s
    while True:
        found = {i["InstanceId"]: i for i in describe(api, ids=ids)}
        states = {one: found[one]["State"]["Name"] if one in found else "unknown" for one in ids}
        if all(s == state for s in states.values()):
            return [found[one] for one in ids]
        if state == "running":
            dead = [found[one] for one in ids if states[one] in ("shutting-down", "terminated")]
            if dead:
                why = dead[0].get("StateReason", {}).get("Message") or "no reason given"
                raise CapacityError(f"Instance {dead[0]['InstanceId']} in {zone or api.region} was terminated while starting ({why}).")
        if cancelled():
            raise LaunchCancelled(f"Cancelled while instances in {zone or api.region} were starting.")
        if time.monotonic() >= deadline:
            late = ", ".join(f"{one} {s}" for one, s in states.items() if s != state)
            raise CapacityError(f"Instances in {zone or api.region} were not {state} within {wait_s:g} s ({late}).")
        time.sleep(POLL_S)


def terminate(api: Ec2, filters: Sequence[Mapping[str, Any]], ids: Sequence[str] = ()) -> None:
    """Terminate every live instance matching `filters` (and `ids`), then wait until they are gone:
    a security group cannot be deleted while an instance still uses it."""
    found = {i["InstanceId"]: i for i in describe(api, filters=filters)}
    if ids:  # those of a record whose tags someone removed
        found.update({i["InstanceId"]: i for i in describe(api, ids=ids)})
    live = sorted(one for one, i in found.items() if i["State"]["Name"] != "terminated")
    if not live:
        return
    api.call("TerminateInstances", ok=("InvalidInstanceID.NotFound",), InstanceIds=live)
    wait_gone(api, live)


def wait_gone(api: Ec2, ids: Sequence[str], wait_s: float = RUNNING_WAIT_S) -> None:
    deadline = time.monotonic() + wait_s
    while True:
        left = [i["InstanceId"] for i in describe(api, ids=ids) if i["State"]["Name"] != "terminated"]
        if not left:
            return
        if time.monotonic() >= deadline:
            raise ProviderError(f"Instances {', '.join(left)} in {api.region} were still not terminated after {wait_s:g} s; run `skyhop down` again.")
        time.sleep(POLL_S)
