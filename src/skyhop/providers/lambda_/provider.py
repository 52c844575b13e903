"""`lambda`: Lambda Cloud GPU instances, launched through its REST API and reached over SSH.

A cluster is one launch of `quantity = num_nodes` instances of the offer's
type in its region (Lambda has regions, no zones), all named
`skyhop-<owner8>-<cluster>` and holding an SSH key registered under the same
name. Account keys carry no tags, so the name is the ownership mark: `find`
after a crash, `owned()` and `down` select by it. The key is per cluster
(created by the launch, deleted by `down`), so nothing of a cluster outlives
it and no count of users of a shared key must be kept right.

Lambda cannot stop an instance (its `restart` is a reboot), so `stop` and
`start` refuse and `can_stop` is False; autostop means `down`, which the head
does itself through the API (`selfcall.py`).
"""

from __future__ import annotations

import time
from typing import Mapping, Sequence

from skyhop.providers import _owned, base, selfcall, vm
from skyhop.providers.base import Capabilities, ClusterInfo, LaunchRequest, NodeInfo, Observed, OwnedResource
from skyhop.providers.credentials import CheckResult
from skyhop.providers.errors import CapacityError, LaunchCancelled, NotSupportedError
from skyhop.providers.lambda_.api import NAME, LambdaApi, settings
from skyhop.providers.lambda_.facts import LambdaCluster, LambdaNode
from skyhop.providers.runner import CommandRunner
from skyhop.providers.settings import api_check, undo_failed_launch

#: Longest time instances may stay `booting` before the launch gives up on the region.
ACTIVE_WAIT_S = 1200.0
_POLL_S = 2.0
_NAME_LIMIT = 60  # Lambda allows 64 characters for instance and key names
STOP_REFUSED = "Lambda Cloud cannot stop instances; use `skyhop down` (it removes them)."


def _name(owner: str, cluster: str) -> str:
    return _owned.resource_name(owner, cluster, limit=_NAME_LIMIT)


def _facts(cluster: ClusterInfo) -> LambdaCluster:
    return LambdaCluster.from_json(cluster.data[NAME])


class LambdaProvider:
    name = NAME
    capabilities = Capabilities(can_stop=False, remote_check=True, spot=False)  # Lambda sells no spot instances

    def check(self) -> CheckResult:
        """Lists the instance types: the key is present, accepted, and the API reachable."""
        return api_check(NAME, lambda: f"API key accepted ({len(LambdaApi.from_config().instance_types())} instance types listed)")

    def availability(self) -> Mapping[tuple[str, str], bool]:
        """(instance type, region) pairs Lambda has capacity for now; a pair not listed has none."""
        out: dict[tuple[str, str], bool] = {}
        for type_name, entry in LambdaApi.from_config().instance_types().items():
            for region in entry.get("regions_with_capacity_available") or ():
                out[(str(type_name), str(region.get("name")))] = True
        return out

    def launch(self, request: LaunchRequest) -> ClusterInfo:
        unserved = [f for f, v in (("image_id", request.image_id), ("disk_size", request.disk_size_gb),
                                   ("disk_tier", request.disk_tier), ("ports", request.ports)) if v]
        if unserved:  # each instance type has its disk; images and firewall rules are not passed to Lambda yet
            raise NotSupportedError(f"skyhop cannot set {', '.join(unserved)} on Lambda Cloud instances yet; remove it from the "
                                    "task or use another cloud.")
        api = LambdaApi.from_config()
        offer = request.offer
        name = _name(request.owner_id, request.cluster_name)
        facts = LambdaCluster(offer.region, name, launch_id=request.launch_id)
        try:
            _ensure_key(api, name, _public_key())
            ids = api.launch(offer.region, offer.instance_type, name, request.num_nodes, name)
            facts = LambdaCluster(offer.region, name, tuple(ids), request.launch_id)
            machines = _wait_active(api, ids, offer.region, request)
            config = settings()
            connected = vm.connect(NAME, request.cluster_name, machines, internal_ips=config.use_internal_ips, cancelled=request.cancelled)
            selfcall.install(connected.nodes[0], f"{config.api_endpoint}/instance-operations/terminate", api.key,
                             {"down": {"instance_ids": list(ids)}})
        except BaseException as error:
            undo_failed_launch(lambda: _remove(api, facts, nodes=()), error, f"instances or the SSH key named '{name}' in Lambda Cloud")
            raise
        return ClusterInfo(NAME, request.cluster_name, offer.region, None, connected.nodes, {NAME: facts.to_json()},
                           measured=connected.measured)

    def find(self, cluster_name: str) -> ClusterInfo | None:
        """What a crashed launch left: instances and the key by the cluster's name (reported TERMINATED, so it is removed)."""
        api = LambdaApi.from_config()
        name = _name(_owned.owner_id(), cluster_name)
        instances = [i for i in api.instances() if i.get("name") == name and i.get("status") != "terminated"]
        keys = [k for k in api.ssh_keys() if k.get("name") == name]
        if not instances and not keys:
            return None
        region = str((instances[0].get("region") or {}).get("name", "")) if instances else ""
        facts = LambdaCluster(region, name, tuple(str(i["id"]) for i in instances), unfinished=True)
        return ClusterInfo(NAME, cluster_name, region or None, None, (), {NAME: facts.to_json()})

    def query(self, cluster: ClusterInfo) -> str | Observed:
        facts = _facts(cluster)
        if facts.unfinished:
            return base.TERMINATED
        found = {str(i.get("id")): i for i in LambdaApi.from_config().instances()}
        states = {rank: str(found.get(iid, {}).get("status", "terminated")) for rank, iid in enumerate(facts.instance_ids)}
        if all(s in ("terminated", "terminating") for s in states.values()):
            return base.TERMINATED
        if all(s in ("active", "booting") for s in states.values()):
            return base.RUNNING
        preempted = {rank: "Lambda reported the instance preempted" for rank, s in states.items() if s == "preempted"}
        if preempted:
            return base.preempted(preempted)
        lost = "; ".join(f"node {rank}: {s}" for rank, s in states.items() if s not in ("active", "booting"))
        return Observed(base.PARTIAL, lost)

    def autostop_hooks(self, cluster: ClusterInfo) -> Mapping[str, list[str]]:
        """Autodown only: the head terminates the cluster's instances itself (`selfcall.py`); Lambda cannot stop."""
        return selfcall.hooks(cluster.head, ("down",))

    def stop(self, cluster: ClusterInfo) -> None:
        raise NotSupportedError(STOP_REFUSED)

    def start(self, cluster: ClusterInfo) -> ClusterInfo:
        raise NotSupportedError(STOP_REFUSED)

    def terminate(self, cluster: ClusterInfo) -> None:
        """Terminates the cluster's instances (and any other carrying its name), then deletes its key; idempotent."""
        _remove(LambdaApi.from_config(), _facts(cluster), cluster.nodes)

    def runner(self, cluster: ClusterInfo, node: NodeInfo) -> CommandRunner:
        return vm.runner(node)

    def owned(self) -> Sequence[OwnedResource]:
        """Every instance and SSH key named with this installation's owner prefix."""
        api = LambdaApi.from_config()
        prefix = _name(_owned.owner_id(), "")
        out = [
            OwnedResource("instance", str(i["id"]), str((i.get("region") or {}).get("name") or "") or None, str(i["name"])[len(prefix):])
            for i in api.instances() if str(i.get("name") or "").startswith(prefix) and i.get("status") != "terminated"
        ]
        out += [OwnedResource("ssh-key", str(k["id"]), None, str(k["name"])[len(prefix):])
                for k in api.ssh_keys() if str(k.get("name") or "").startswith(prefix)]
        return out

    def remove_owned(self, resources: Sequence[OwnedResource]) -> None:
        api = LambdaApi.from_config()
        instances = [r.id for r in resources if r.kind == "instance"]
        if instances:
            api.terminate(instances)
        for key in resources:
            if key.kind == "ssh-key":
                api.delete_ssh_key(key.id)


def _public_key() -> str:
    from skyhop.providers.keys import user_key

    return user_key().public


def _ensure_key(api: LambdaApi, name: str, public_key: str) -> None:
    """Register our public key under the cluster's name; a key of that name left by a crash is replaced."""
    for key in api.ssh_keys():
        if key.get("name") == name:
            if str(key.get("public_key") or "").split()[:2] == public_key.split()[:2]:
                return
            api.delete_ssh_key(str(key["id"]))
    api.add_ssh_key(name, public_key)


def _wait_active(api: LambdaApi, ids: Sequence[str], region: str, request: LaunchRequest) -> list[vm.Machine]:
    """Poll until every instance is `active` (with its addresses); a cancel or a failed boot ends the wait."""
    user = settings().ssh_user
    deadline = time.monotonic() + ACTIVE_WAIT_S
    while True:
        if request.cancelled():
            raise LaunchCancelled("Cancelled while Lambda Cloud was booting the instances; they are being terminated.")
        found = {str(i.get("id")): i for i in api.instances()}
        states = [str(found.get(i, {}).get("status", "missing")) for i in ids]
        failed = [s for s in states if s not in ("booting", "active")]
        if failed:
            raise CapacityError(f"Lambda Cloud could not boot the instances in {region} ({', '.join(failed)}).", scope="region")
        if all(s == "active" for s in states) and all(found[i].get("private_ip") for i in ids):
            return [vm.Machine(str(found[i]["private_ip"]), found[i].get("ip"), user, facts=LambdaNode(i).to_json()) for i in ids]
        if time.monotonic() >= deadline:
            raise CapacityError(f"Lambda Cloud's instances in {region} did not become active within {ACTIVE_WAIT_S:g} s.", scope="region")
        time.sleep(_POLL_S)


def _remove(api: LambdaApi, facts: LambdaCluster, nodes: Sequence[NodeInfo]) -> None:
    """Terminate what the launch made or what carries its name, then delete the key: safe to repeat."""
    vm.disconnect(nodes)
    live = [i for i in api.instances() if i.get("status") not in ("terminated", "terminating")]
    ids = sorted(str(i["id"]) for i in live if i.get("name") == facts.name or str(i["id"]) in facts.instance_ids)
    if ids:
        api.terminate(ids)
    for key in api.ssh_keys():
        if key.get("name") == facts.name:
            api.delete_ssh_key(str(key["id"]))
