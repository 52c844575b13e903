"""`aws`: clusters of EC2 instances (boto3), on demand or spot, reached over SSH with skyhop's key.

A launch, in one region and zone of the plan: place it (zone id -> name, VPC,
subnet), import the key pair, make the security group (and a placement group
for multi-node clusters when `aws.use_placement_group`), resolve and check the
image, RunInstances for all nodes at once, wait for `running`, then
`vm.connect` (SSH, probe, head -> worker links). Any failure or a cancel on the
way removes everything the launch made (instances by the launch's tag, waited
for until terminated, then the groups and the key pair) before the error is
raised, so failover moves on with nothing left behind. `terminate` does the
same by the cluster's tags and is a no-op for what is gone; `find` looks for
those tags in every catalog region after a crash.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping, Sequence

from skyhop.parallel import each
from skyhop.providers import _owned, base, vm
from skyhop.providers.aws import images, instances, network, resources, selfstop
from skyhop.providers.aws.ec2 import Ec2
from skyhop.providers.aws.ec2 import shared as ec2
from skyhop.providers.aws.errors import ApiTimeout
from skyhop.providers.aws.facts import AwsCluster, AwsNode
from skyhop.providers.aws.settings import AwsSettings, load
from skyhop.providers.base import FEATURE_DISK_SIZE, FEATURE_DISK_TIER, FEATURE_IMAGE_ID, Capabilities, ClusterInfo, LaunchRequest, NodeInfo, Observed, OwnedResource
from skyhop.providers.credentials import CheckResult, check_cloud
from skyhop.providers.errors import NotSupportedError, ProviderError
from skyhop.providers.ssh.runner import SSHRunner

NAME = "aws"


def _facts(cluster: ClusterInfo) -> AwsCluster:
    return AwsCluster.from_json(cluster.data[NAME])


def _machine(instance: Mapping[str, Any], user: str) -> vm.Machine:
    node = AwsNode(str(instance["InstanceId"]), str(instance["PrivateIpAddress"]), instance.get("PublicIpAddress"),
                   instance.get("InstanceLifecycle") == "spot")
    return vm.Machine(node.private_ip, node.public_ip, user=user, facts=node.to_json())


def _tags(request: LaunchRequest) -> dict[str, str]:
    """The task's labels, a Name the console shows, and the ownership marks (which labels cannot override)."""
    marks = _owned.marks(request.cluster_name, request.user, request.launch_id, request.owner_id)
    return {**dict(request.labels), "Name": f"skyhop-{request.cluster_name}", **marks}


def catalog_regions() -> list[str]:
    """The AWS regions the catalog prices: where `find` and `owned` look for skyhop's tags."""
    from skyhop.catalog.load import shared_catalog

    return sorted({o.region for o in shared_catalog([NAME]).offers if o.cloud == NAME})


class AWSProvider:
    name = NAME
    capabilities = Capabilities(can_stop=True, remote_check=True, features=frozenset({FEATURE_IMAGE_ID, FEATURE_DISK_SIZE, FEATURE_DISK_TIER}))

    def check(self) -> CheckResult:
        """STS GetCallerIdentity, once credentials are there at all (no network call, and no wait for
        an instance-metadata endpoint, on machines without any)."""
        local = check_cloud(NAME)
        if not local.enabled:
            return local
        from skyhop.providers.aws.ec2 import caller_identity

        try:
            who = caller_identity()
        except ProviderError as error:
            return CheckResult(NAME, False, f"{local.reason}, but STS GetCallerIdentity failed: {error}")
        return CheckResult(NAME, True, f"{local.reason}; STS says {who.get('Arn')} (account {who.get('Account')})")

    def zone_names(self, region: str) -> Mapping[str, str]:
        return ec2(region).zone_names()

    def launch(self, request: LaunchRequest) -> ClusterInfo:
        settings = load()
        offer = request.offer
        api = ec2(offer.region, settings.api_timeout_s)
        # Checked before anything is made: a zone the region lacks, or an image it does not have, creates nothing.
        where = network.place(api, settings.vpc_name, offer.zone)
        image = images.resolve(api, request.image_id, bool(offer.accelerator), settings)
        tags = _tags(request)
        name = resources.name_for(request.owner_id, request.cluster_name)
        group = name if settings.use_placement_group and request.num_nodes > 1 else None
        try:
            key_name = resources.ensure_key_pair(api, name, _public_key(), tags)
            security_group = resources.ensure_security_group(api, name, where.vpc_id, request.ports, tags)
            if group:
                resources.ensure_placement_group(api, group, tags)
            try:
                ids = instances.run(
                    api, count=request.num_nodes, instance_type=offer.instance_type, image=image, placement=where,
                    security_group=security_group, key_name=key_name, tags=tags, spot=request.use_spot,
                    public_ip=not settings.use_internal_ips, token=f"skyhop-{request.launch_id}",
                    disk_size_gb=request.disk_size_gb, disk_tier=request.disk_tier, placement_group=group,
                )
            except ApiTimeout:
                # No answer is not "not created": give the call as long again to show what it made, so the cleanup
                # below removes it (what appears later still carries the marks: `owned()` lists it).
                instances.await_late(api, resources.mark_filters(request.owner_id, request.cluster_name, request.launch_id), settings.api_timeout_s)
                raise
            running = instances.wait_for(api, ids, "running", wait_s=instances.RUNNING_WAIT_S, cancelled=request.cancelled, zone=where.zone)
            connected = vm.connect(NAME, request.cluster_name, [_machine(i, settings.ssh_user) for i in running],
                                   internal_ips=settings.use_internal_ips, cancelled=request.cancelled)
            signer = "imds" if settings.remote_identity == selfstop.NO_UPLOAD else api.credentials()
            vm.install_self_stop(connected.nodes[0], selfstop.calls(offer.region, ids, spot=request.use_spot, credentials=signer))
        except BaseException as error:
            _undo(api, request, group is not None, error)
            raise
        facts = AwsCluster(offer.region, where.zone, where.zone_id, request.owner_id, request.launch_id, key_name, security_group,
                           group, tuple(ids), settings.use_internal_ips)
        data: dict[str, Any] = {NAME: facts.to_json()}
        if connected.key_comment:
            data["key_comment"] = connected.key_comment
        return ClusterInfo(NAME, request.cluster_name, offer.region, offer.zone, connected.nodes, data, measured=connected.measured)

    def find(self, cluster_name: str) -> ClusterInfo | None:
        """What a launch cut short left, by the cluster's tags in every catalog region (the record may not say where).

        The regions are asked at once: one at a time, a network that hangs would cost every region's timeout in turn.
        """
        owner = _owned.owner_id()
        settings = load()
        filters, regions = resources.mark_filters(owner, cluster_name), catalog_regions()
        for region, (live, groups, keys) in zip(regions, each(regions, lambda r: _marked(r, filters, settings.api_timeout_s))):
            if live or groups or keys:
                tagged = (live or groups or keys)[0].get("Tags", [])
                launch_id = next((t["Value"] for t in tagged if t["Key"] == _owned.LAUNCH), "")
                facts = AwsCluster(region, None, None, owner, launch_id, instance_ids=tuple(i["InstanceId"] for i in live),
                                   internal_ips=settings.use_internal_ips, unfinished=True)
                return ClusterInfo(NAME, cluster_name, region, None, (), {NAME: facts.to_json()})
        return None

    def query(self, cluster: ClusterInfo) -> Observed:
        facts = _facts(cluster)
        if facts.unfinished:
            return Observed(base.TERMINATED)  # a launch that never finished: nothing worth keeping
        found = {i["InstanceId"]: i for i in instances.describe(ec2(facts.region), ids=facts.instance_ids)}
        states = [found[one]["State"]["Name"] if one in found else "terminated" for one in facts.instance_ids]
        if all(s in ("pending", "running") for s in states):
            return Observed(base.RUNNING)
        reclaimed = {
            rank: found[one]["StateReason"].get("Message") or found[one]["StateReason"]["Code"]
            for rank, one in enumerate(facts.instance_ids)
            if one in found and found[one].get("StateReason", {}).get("Code") in instances.SPOT_RECLAIM
        }
        if reclaimed:  # before "stopped": a spot instance EC2 stopped was taken back, not stopped by the user
            return base.preempted(reclaimed)
        if all(s in ("stopping", "stopped") for s in states):
            return Observed(base.STOPPED)
        if all(s in ("shutting-down", "terminated") for s in states):
            return Observed(base.TERMINATED)
        lost = "; ".join(f"node {rank} ({one}): {state}" for rank, (one, state) in enumerate(zip(facts.instance_ids, states)) if state not in ("pending", "running"))
        return Observed(base.PARTIAL, lost)

    def autostop_hooks(self, cluster: ClusterInfo) -> Mapping[str, list[str]]:
        """The head stops or terminates its own instances when autostop fires (`aws/selfstop.py`)."""
        spot = any(node.extra.get(NAME, {}).get("spot") for node in cluster.nodes)
        return vm.self_stop_hooks(cluster.head, selfstop.actions(spot), cluster.python)

    def stop(self, cluster: ClusterInfo) -> None:
        """Stop the instances, keeping their volumes. Spot instances here are one-time requests, which EC2
        cannot stop, so a spot cluster is refused before any call (as SkyPilot does)."""
        facts = _facts(cluster)
        if any(node.extra.get(NAME, {}).get("spot") for node in cluster.nodes):
            raise NotSupportedError(f"'{cluster.cluster_name}' runs on AWS spot instances, which cannot be stopped; "
                                    "`skyhop down` removes it (launch on demand to be able to stop).")
        vm.disconnect(cluster.nodes)
        api = ec2(facts.region, load().api_timeout_s)
        api.call("StopInstances", InstanceIds=list(facts.instance_ids))
        instances.wait_for(api, facts.instance_ids, "stopped", wait_s=instances.RUNNING_WAIT_S)

    def start(self, cluster: ClusterInfo) -> ClusterInfo:
        """Start the stopped instances; the private addresses stay (VPC), public ones are new."""
        facts = _facts(cluster)
        settings = load()
        api = ec2(facts.region, settings.api_timeout_s)
        api.call("StartInstances", zone=facts.zone, once=True, InstanceIds=list(facts.instance_ids))
        running = instances.wait_for(api, facts.instance_ids, "running", wait_s=instances.RUNNING_WAIT_S, zone=facts.zone)
        machines = [_machine(i, settings.ssh_user) for i in running]
        nodes = vm.readdress(cluster.nodes, machines, facts.internal_ips)
        nodes = tuple(replace(n, extra={**dict(n.extra), NAME: dict(m.facts)}) for n, m in zip(nodes, machines))
        return replace(cluster, nodes=nodes)

    def terminate(self, cluster: ClusterInfo) -> None:
        """Terminate the instances (waiting until they are gone), then the groups and the key pair; gone is fine."""
        facts = _facts(cluster)
        settings = load()
        vm.disconnect(cluster.nodes)
        api = ec2(facts.region, settings.api_timeout_s)
        instances.terminate(api, resources.mark_filters(facts.owner, cluster.cluster_name), facts.instance_ids)
        resources.remove(api, facts.owner, cluster.cluster_name, placement_groups=_may_have_placement_group(facts, settings))

    def open_ports(self, cluster: ClusterInfo, ports: Sequence[str]) -> None:
        facts = _facts(cluster)
        if facts.security_group_id:
            resources.open_ports(ec2(facts.region), facts.security_group_id, ports)

    def owned(self) -> list[OwnedResource]:
        """Every instance, security group and key pair with this installation's owner tag, in every catalog region (asked at once)."""
        filters, regions, timeout = resources.mark_filters(_owned.owner_id()), catalog_regions(), load().api_timeout_s
        out: list[OwnedResource] = []
        for region, (live, groups, keys) in zip(regions, each(regions, lambda r: _marked(r, filters, timeout))):
            out += [OwnedResource("instance", i["InstanceId"], region, _tag(i, _owned.CLUSTER), _created(i.get("LaunchTime"))) for i in live]
            out += [OwnedResource("security-group", g["GroupId"], region, _tag(g, _owned.CLUSTER)) for g in groups]
            out += [OwnedResource("key-pair", k["KeyName"], region, _tag(k, _owned.CLUSTER), _created(k.get("CreateTime"))) for k in keys]
        return out

    def remove_owned(self, owned: Sequence[OwnedResource]) -> None:
        """Remove listed resources: instances first (and waited for), then groups, then key pairs."""
        for region in sorted({r.region for r in owned if r.region}):
            api = ec2(region)
            mine = [r for r in owned if r.region == region]
            ids = [r.id for r in mine if r.kind == "instance"]
            if ids:
                api.call("TerminateInstances", ok=("InvalidInstanceID.NotFound",), InstanceIds=ids)
                instances.wait_gone(api, ids)
            for r in mine:
                if r.kind == "security-group":
                    resources.delete_security_group(api, r.id)
                elif r.kind == "key-pair":
                    api.call("DeleteKeyPair", ok=("InvalidKeyPair.NotFound",), KeyName=r.id)

    def runner(self, cluster: ClusterInfo, node: NodeInfo) -> SSHRunner:
        return vm.runner(node)


def _public_key() -> str:
    from skyhop.providers.keys import user_key

    return user_key().public


def _may_have_placement_group(facts: AwsCluster, settings: AwsSettings) -> bool:
    return bool(facts.placement_group) or (facts.unfinished and settings.use_placement_group)


def _tag(resource: Mapping[str, Any], key: str) -> str:
    return next((str(t["Value"]) for t in resource.get("Tags", []) if t.get("Key") == key), "")


def _created(moment: Any) -> float | None:
    return moment.timestamp() if hasattr(moment, "timestamp") else None


def _marked(region: str, filters: list[dict[str, object]], timeout_s: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The live instances, security groups and key pairs in `region` that match the mark `filters`."""
    api = ec2(region, timeout_s)
    live = [i for i in instances.describe(api, filters=filters) if i["State"]["Name"] in instances.LIVE]
    groups = api.call("DescribeSecurityGroups", Filters=filters).get("SecurityGroups", [])
    keys = api.call("DescribeKeyPairs", Filters=filters).get("KeyPairs", [])
    return live, groups, keys


def _undo(api: Ec2, request: LaunchRequest, placement_group: bool, error: BaseException) -> None:
    """Remove what this launch made, before its error is raised; a cleanup that fails too is named in the message.

    The launch's own error is what is raised, type and scope unchanged (failover reads them); only its
    message gains the sentence about what may be left and how to remove it (the launch's record is gone,
    so what is left is an orphan: `down --orphans`).
    """
    try:
        instances.terminate(api, resources.mark_filters(request.owner_id, request.cluster_name, request.launch_id))
        resources.remove(api, request.owner_id, request.cluster_name, placement_groups=placement_group)
    except Exception as cleanup:  # the launch's own error matters most; say what may be left
        if isinstance(error, ProviderError):
            error.args = (f"{error} Removing what this launch created in {api.region} failed too ({cleanup}); "
                          "once AWS answers again, `skyhop status --refresh` lists what is left and `skyhop down --orphans` removes it.",)
