"""`gcp`: Compute Engine VMs as cluster nodes.

One instance per node, all in the offer's zone, inserted one by one and
waited for together; any failure removes what this launch inserted before it
raises, so a failed launch costs nothing. Each instance carries skyhop's
ownership marks as labels, skyhop's public key in its `ssh-keys` metadata and
the cluster's network tag, which the cluster's one firewall rule (for the
task's `ports`) targets; firewall rules have no labels, so theirs is a name
(`_owned.resource_name`). After the instances run, `providers/vm.connect`
waits for SSH and links the nodes, as for every cloud. `find` (after a crash)
and `owned` (orphans) select by the labels, never by name alone.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any, Mapping, Sequence

from skyhop.errors import SkyhopError
from skyhop.parallel import each
from skyhop.providers import base, vm
from skyhop.providers.base import FEATURE_DISK_SIZE, FEATURE_DISK_TIER, FEATURE_IMAGE_ID, Capabilities, ClusterInfo, LaunchRequest, NodeInfo, Observed, OwnedResource
from skyhop.providers.credentials import CheckResult, check_cloud
from skyhop.providers.errors import NotSupportedError, ProviderError
from skyhop.providers.gcp import inventory
from skyhop.providers.gcp.auth import session
from skyhop.providers.gcp.facts import GcpCluster, GcpNode
from skyhop.providers.gcp.instances import firewall_name, insert_body, instance_name, network_tag
from skyhop.providers.gcp.rest import Compute
from skyhop.providers.gcp.settings import Settings, load
from skyhop.providers.keys import user_key
from skyhop.providers.ssh.runner import SSHRunner

NAME = "gcp"
# Instance statuses (https://cloud.google.com/compute/docs/instances/instance-life-cycle): a VM on its way up
# counts as running, one stopping or stopped (GCP says TERMINATED for a stopped VM) as stopped.
UP = frozenset({"PROVISIONING", "STAGING", "RUNNING", "PENDING", "REPAIRING"})
DOWN = frozenset({"STOPPING", "STOPPED", "TERMINATED", "SUSPENDING", "SUSPENDED", "PENDING_STOP"})


def _is_tpu(request: LaunchRequest) -> bool:
    return request.offer.instance_type == "TPU-VM" or (request.offer.accelerator or "").lower().startswith("tpu")


class GCPProvider:
    name = NAME
    capabilities = Capabilities(can_stop=True, remote_check=True, features=frozenset({FEATURE_IMAGE_ID, FEATURE_DISK_SIZE, FEATURE_DISK_TIER}))

    def _compute(self) -> tuple[Compute, Settings]:
        settings = load()
        return Compute(session(settings.project_id), settings.compute_endpoint.rstrip("/")), settings

    def check(self) -> CheckResult:
        """A token from the credentials, then the project read with it: both must work for a launch to."""
        found = check_cloud(NAME)
        if not found.enabled:
            return found  # no credentials here at all: no reason to load google-auth
        try:
            compute, _ = self._compute()
            compute.call("GET", "", what="reading the project")
        except SkyhopError as error:
            return CheckResult(NAME, False, str(error))
        return CheckResult(NAME, True, f"project {compute.project}")

    def launch(self, request: LaunchRequest) -> ClusterInfo:
        offer = request.offer
        if _is_tpu(request):
            raise NotSupportedError(f"{offer.accelerator or 'TPU'} is a Cloud TPU VM, which skyhop cannot launch yet "
                                    "(TPU VMs are created through the Cloud TPU API, not Compute Engine); ask for GPUs or CPUs on GCP instead.")
        if not offer.zone:
            raise ProviderError(f"GCP creates instances in a zone; the offer for {offer.instance_type} in {offer.region} names none.")
        compute, settings = self._compute()
        owner, zone = request.owner_id, offer.zone
        facts = GcpCluster(compute.project, zone, tuple(instance_name(owner, request.cluster_name, r) for r in range(request.num_nodes)),
                           network_tag(owner, request.cluster_name), firewall_name(owner, request.cluster_name), request.launch_id, request.use_spot)
        public_key = user_key().public
        inserted: list[str] = []
        try:
            operations = []
            for name in facts.instances:
                body = insert_body(request, name, zone, settings, public_key)
                # Counted before the call: an insert whose answer is lost (a timeout, a dropped connection) may
                # have made the instance, and the cleanup's delete of one that does not exist is a harmless 404.
                inserted.append(name)
                operations.append(compute.call("POST", f"zones/{zone}/instances", body, query={"requestId": _request_id()},
                                               region=offer.region, zone=zone, what=f"creating instance {name}"))
            for operation in operations:
                compute.wait(operation, region=offer.region, zone=zone, cancelled=request.cancelled)
            machines = [_machine(inventory.instance(compute, zone, name), settings) for name in facts.instances]
            connected = vm.connect(NAME, request.cluster_name, machines, internal_ips=settings.use_internal_ips, cancelled=request.cancelled)
            vm.install_self_stop(connected.nodes[0], _self_stop_calls(settings.compute_endpoint, compute.project, zone, facts.instances))
        except BaseException as error:
            _undo(compute, facts, inserted, error)
            raise
        data = {NAME: facts.to_json(), "key_comment": connected.key_comment}
        return ClusterInfo(NAME, request.cluster_name, offer.region, zone, connected.nodes, data, measured=connected.measured)

    def find(self, cluster_name: str) -> ClusterInfo | None:
        """What a launch cut short left, by its labels in every zone: to report TERMINATED and remove."""
        compute, _ = self._compute()
        found = inventory.by_cluster(compute, cluster_name)
        if not found:
            return None
        zone = str(found[0]["zone"]).rsplit("/", 1)[-1]
        owner = inventory.owner()
        facts = GcpCluster(compute.project, zone, tuple(str(i["name"]) for i in found), network_tag(owner, cluster_name),
                           firewall_name(owner, cluster_name), str(found[0].get("labels", {}).get("skyhop-launch", "")), unfinished=True)
        nodes = tuple(NodeInfo(rank, _addresses(i)[0] or "", "", {NAME: {"name": i["name"]}}) for rank, i in enumerate(found))
        return ClusterInfo(NAME, cluster_name, zone.rsplit("-", 1)[0], zone, nodes, {NAME: facts.to_json()})

    def query(self, cluster: ClusterInfo) -> Observed:
        facts = GcpCluster.from_json(cluster.data[NAME])
        if facts.unfinished:
            return Observed(base.TERMINATED)
        compute, _ = self._compute()
        found = each(list(facts.instances), lambda name: inventory.instance(compute, facts.zone, name, missing_ok=True))
        statuses = [str(i["status"]) if i else None for i in found]
        if all(s is None for s in statuses):
            return Observed(base.TERMINATED)
        if all(s in UP for s in statuses):
            return Observed(base.RUNNING)
        if facts.spot:
            reclaimed = inventory.preemptions(compute, facts.zone, [i for i in found if i and str(i["status"]) not in UP])
            if reclaimed:
                return base.preempted({facts.instances.index(name): why for name, why in reclaimed.items()})
        if all(s in DOWN for s in statuses):
            return Observed(base.STOPPED)
        lost = "; ".join(f"node {rank} ({name}): {status or 'gone'}" for rank, (name, status) in enumerate(zip(facts.instances, statuses)) if status not in UP)
        return Observed(base.PARTIAL, lost)

    def autostop_hooks(self, cluster: ClusterInfo) -> Mapping[str, list[str]]:
        """The head stops or deletes its own instances with its service account's token when autostop fires."""
        return vm.self_stop_hooks(cluster.head, ("stop", "down"), cluster.python)

    def stop(self, cluster: ClusterInfo) -> None:
        vm.disconnect(cluster.nodes)
        self._each_instance(cluster, "stop")

    def start(self, cluster: ClusterInfo) -> ClusterInfo:
        compute, settings = self._each_instance(cluster, "start")
        facts = GcpCluster.from_json(cluster.data[NAME])
        machines = [_machine(inventory.instance(compute, facts.zone, name), settings) for name in facts.instances]
        return replace(cluster, nodes=vm.readdress(cluster.nodes, machines, settings.use_internal_ips))

    def terminate(self, cluster: ClusterInfo) -> None:
        """Delete the instances (their boot disks go with them) and the firewall rule; what is gone already is fine."""
        vm.disconnect(cluster.nodes)
        compute, _ = self._compute()
        facts = GcpCluster.from_json(cluster.data[NAME])
        if facts.unfinished:  # found by its labels after a crash: remove by the labels again, in every zone
            inventory.remove_cluster(compute, cluster.cluster_name, facts.firewall)
        else:
            inventory.remove(compute, facts)

    def open_ports(self, cluster: ClusterInfo, ports: Sequence[str]) -> None:
        """The cluster's firewall rule: the ports from anywhere, to instances with the cluster's network tag."""
        compute, settings = self._compute()
        facts = GcpCluster.from_json(cluster.data[NAME])
        inventory.open_ports(compute, facts, settings.network, cluster.cluster_name, ports)

    def owned(self) -> Sequence[OwnedResource]:
        compute, _ = self._compute()
        return inventory.owned(compute)

    def remove_owned(self, resources: Sequence[OwnedResource]) -> None:
        compute, _ = self._compute()
        inventory.remove_owned(compute, resources)

    def runner(self, cluster: ClusterInfo, node: NodeInfo) -> SSHRunner:
        return vm.runner(node)

    def _each_instance(self, cluster: ClusterInfo, verb: str) -> tuple[Compute, Settings]:
        compute, settings = self._compute()
        facts = GcpCluster.from_json(cluster.data[NAME])
        region = cluster.region
        operations = each(list(facts.instances), lambda name: compute.call(
            "POST", f"zones/{facts.zone}/instances/{name}/{verb}", region=region, zone=facts.zone, what=f"{verb} of instance {name}"))
        for operation in operations:
            compute.wait(operation, region=region, zone=facts.zone)
        return compute, settings


def _request_id() -> str:
    """A UUID for `requestId`: GCP ignores a retried insert with the same id instead of making a second VM."""
    import uuid

    return str(uuid.UUID(bytes=secrets.token_bytes(16), version=4))


def _addresses(instance: Mapping[str, Any]) -> tuple[str | None, str | None]:
    interfaces = instance.get("networkInterfaces") or [{}]
    access = interfaces[0].get("accessConfigs") or [{}]
    return interfaces[0].get("networkIP"), access[0].get("natIP")


#: Where a GCE VM gets an access token for its own service account.
METADATA_TOKEN_URL = "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"


def _self_stop_calls(endpoint: str, project: str, zone: str, names: Sequence[str]) -> dict[str, Any]:
    """Compute calls the head makes on its own instances (stop; delete, where a 404 is already done), signed with the
    VM's own service-account token from the metadata server: no credentials are written to the VM."""
    base = f"{endpoint.rstrip('/')}/projects/{project}/zones/{zone}/instances"

    def call(method: str, suffix: str, ok: list[int]) -> dict[str, Any]:
        return {"kind": "http", "bearer_from_metadata": METADATA_TOKEN_URL,
                "requests": [{"method": method, "url": f"{base}/{name}{suffix}", "ok_statuses": ok} for name in names]}

    return {"stop": call("POST", "/stop", []), "down": call("DELETE", "", [404])}


def _machine(instance: Mapping[str, Any], settings: Settings) -> vm.Machine:
    private, public = _addresses(instance)
    if not private:
        raise ProviderError(f"GCP reported instance {instance.get('name')} without an internal address.")
    return vm.Machine(private, public, user=settings.ssh_user, facts=GcpNode(str(instance["name"]), private, public).to_json())


def _undo(compute: Compute, facts: GcpCluster, inserted: list[str], error: BaseException) -> None:
    """Remove what a failed launch inserted; if that fails too, say what is left on top of why the launch failed."""
    try:
        inventory.remove(compute, replace(facts, instances=tuple(inserted)))
    except SkyhopError as cleanup:
        if isinstance(error, SkyhopError):
            error.args = (f"{error} Removing the instances it created failed as well ({cleanup}); "
                          f"{', '.join(inserted)} in {facts.zone} may remain: `skyhop status --refresh` lists them and `skyhop down` removes them.",)
