"""`runpod`: one RunPod pod per cluster, deployed through its GraphQL API and reached over SSH.

A pod is a container on a GPU host, not a VM: RunPod maps its port 22 to a
public port (`runtime.ports`), which is where skyhop connects, and it has no
private network between pods, so a cluster is one pod (`num_nodes > 1` is
refused before anything is created). The pod's name,
`skyhop-<owner8>-<cluster>`, is the ownership mark (pods carry no tags):
`find` after a crash, `owned()` and `down` select by it. skyhop's public key
reaches the pod as `PUBLIC_KEY`, the variable RunPod's images install into
`authorized_keys` (https://docs.runpod.io/pods/configuration/use-ssh).

Disks: the container disk (the image, skyhop's node directory) is wiped when
a pod stops; the volume at `/workspace` (`disk_size`, default 50 GB) is kept
(https://docs.runpod.io/pods/storage/types). `start` resumes the pod (an
interruptible one bids again at the price it was rented at) and reinstalls
the agent. Autostop: the pod stops or terminates itself through the API
(`selfcall.py`, with the key in a 0600 file on the pod).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Mapping, Sequence

from skyhop.providers import _owned, base, selfcall, vm
from skyhop.providers.base import (
    FEATURE_DISK_SIZE,
    FEATURE_IMAGE_ID,
    FEATURE_PORTS,
    Capabilities,
    ClusterInfo,
    LaunchRequest,
    NodeInfo,
    Observed,
    OwnedResource,
)
from skyhop.providers.credentials import CheckResult
from skyhop.providers.errors import CapacityError, LaunchCancelled, NotSupportedError
from skyhop.providers.runner import CommandRunner
from skyhop.providers.runpod.facts import PodShape, RunPodCluster, pod_shape
from skyhop.providers.runpod.graphql import NAME, STOP, TERMINATE, RunPodApi, settings
from skyhop.providers.settings import api_check, undo_failed_launch

DEFAULT_IMAGE = "runpod/pytorch:2.4.0-py3.11-cuda12.4.1-devel-ubuntu22.04"
DEFAULT_VOLUME_GB = 50
CONTAINER_DISK_GB = 20
#: Longest time a pod may take to pull its image and map its SSH port.
SSH_PORT_WAIT_S = 900.0
_POLL_S = 2.0
_NAME_LIMIT = 60
_MAX_PORTS = 20


def _name(owner: str, cluster: str) -> str:
    return _owned.resource_name(owner, cluster, limit=_NAME_LIMIT)


def _facts(cluster: ClusterInfo) -> RunPodCluster:
    return RunPodCluster.from_json(cluster.data[NAME])


class RunPodProvider:
    name = NAME
    # One pod per cluster; the image, the volume and the mapped ports are chosen when a pod is created.
    capabilities = Capabilities(can_stop=True, remote_check=True, max_nodes=1, features=frozenset({FEATURE_IMAGE_ID, FEATURE_DISK_SIZE, FEATURE_PORTS}))

    def check(self) -> CheckResult:
        """Asks who the key belongs to: the key is present, accepted, and the API reachable."""
        return api_check(NAME, lambda: f"API key accepted (account {RunPodApi.from_config().whoami() or '?'})")

    def launch(self, request: LaunchRequest) -> ClusterInfo:
        if request.num_nodes != 1:
            raise NotSupportedError(
                f"RunPod runs one pod per cluster (pods share no private network); this task asks for {request.num_nodes} nodes. "
                "Use num_nodes: 1 on RunPod, or another cloud for multi-node tasks."
            )
        if request.disk_tier:
            raise NotSupportedError("RunPod has no disk tiers to choose from; remove disk_tier from the task or use another cloud.")
        offer = request.offer
        shape = pod_shape(offer.instance_type)
        bid = None
        if request.use_spot:
            if not offer.spot_price:
                raise NotSupportedError(f"The catalog has no spot price for {offer.instance_type} in {offer.zone or offer.region}.")
            bid = round(offer.spot_price / shape.gpu_count, 4)
        api = RunPodApi.from_config()
        name = _name(request.owner_id, request.cluster_name)
        facts = RunPodCluster("", name, offer.zone, shape.gpu_count, bid)
        try:
            pod = api.deploy(_pod_input(request, shape, name, bid), spot=request.use_spot, where=offer.zone)
            facts = replace(facts, pod_id=str(pod["id"]))
            machine = _wait_for_ssh_port(api, facts.pod_id, offer.zone, request.cancelled)
            config = settings()
            connected = vm.connect(NAME, request.cluster_name, [machine], internal_ips=config.use_internal_ips, cancelled=request.cancelled)
            _install_autostop(api, connected.nodes[0], facts.pod_id)
        except BaseException as error:
            undo_failed_launch(lambda: _remove(api, facts), error, f"a pod named '{name}' in RunPod")
            raise
        return ClusterInfo(NAME, request.cluster_name, offer.region, offer.zone, connected.nodes, {NAME: facts.to_json()},
                           measured=connected.measured)

    def find(self, cluster_name: str) -> ClusterInfo | None:
        """A pod left by a crashed launch, by the cluster's name (reported TERMINATED, so it is removed)."""
        name = _name(_owned.owner_id(), cluster_name)
        pods = [p for p in RunPodApi.from_config().pods() if p.get("name") == name]
        if not pods:
            return None
        facts = RunPodCluster(str(pods[0]["id"]), name, None, int(pods[0].get("gpuCount") or 1), unfinished=True)
        return ClusterInfo(NAME, cluster_name, None, None, (), {NAME: facts.to_json()})

    def query(self, cluster: ClusterInfo) -> str | Observed:
        facts = _facts(cluster)
        if facts.unfinished:
            return base.TERMINATED
        pod = _pod(RunPodApi.from_config(), facts.pod_id)
        status = str(pod.get("desiredStatus") or "TERMINATED") if pod else "TERMINATED"
        if status == "RUNNING":
            return base.RUNNING
        if status == "EXITED":
            return base.STOPPED
        return base.TERMINATED

    def autostop_hooks(self, cluster: ClusterInfo) -> Mapping[str, list[str]]:
        """The pod stops or terminates itself through the API when autostop fires (`selfcall.py`)."""
        return selfcall.hooks(cluster.head, ("stop", "down"))

    def stop(self, cluster: ClusterInfo) -> None:
        """Stops the pod; one that already stopped itself (autostop) is left as it is."""
        vm.disconnect(cluster.nodes)
        api = RunPodApi.from_config()
        pod = _pod(api, _facts(cluster).pod_id)
        if pod is not None and pod.get("desiredStatus") != "EXITED":
            api.stop(str(pod["id"]))

    def start(self, cluster: ClusterInfo) -> ClusterInfo:
        """Resume the pod (re-bidding for a spot one), then reach it at its SSH port, which may be a new one."""
        facts = _facts(cluster)
        api = RunPodApi.from_config()
        api.resume(facts.pod_id, facts.gpu_count, facts.bid_per_gpu, where=facts.zone)
        machine = _wait_for_ssh_port(api, facts.pod_id, facts.zone, lambda: False)
        nodes = vm.readdress(cluster.nodes, [machine], settings().use_internal_ips)
        _install_autostop(api, nodes[0], facts.pod_id)  # the container disk it was on is wiped by a stop
        return replace(cluster, nodes=nodes)

    def terminate(self, cluster: ClusterInfo) -> None:
        """Terminates the cluster's pod (and any other pod of its name); idempotent."""
        vm.disconnect(cluster.nodes)
        _remove(RunPodApi.from_config(), _facts(cluster))

    def runner(self, cluster: ClusterInfo, node: NodeInfo) -> CommandRunner:
        return vm.runner(node)

    def owned(self) -> Sequence[OwnedResource]:
        """Every pod named with this installation's owner prefix."""
        prefix = _name(_owned.owner_id(), "")
        return [OwnedResource("pod", str(p["id"]), None, str(p["name"])[len(prefix):])
                for p in RunPodApi.from_config().pods() if str(p.get("name") or "").startswith(prefix)]

    def remove_owned(self, resources: Sequence[OwnedResource]) -> None:
        api = RunPodApi.from_config()
        live = {str(p.get("id")) for p in api.pods()}
        for resource in resources:
            if resource.kind == "pod" and resource.id in live:
                api.terminate(resource.id)


def _pod_input(request: LaunchRequest, shape: PodShape, name: str, bid_per_gpu: float | None) -> dict[str, Any]:
    """PodFindAndDeployOnDemandInput / PodRentInterruptableInput (https://graphql-spec.runpod.io/)."""
    from skyhop.providers.keys import user_key

    offer = request.offer
    pod: dict[str, Any] = {
        "cloudType": shape.cloud_type, "gpuCount": shape.gpu_count, "gpuTypeId": shape.gpu_type_id,
        "volumeInGb": request.disk_size_gb or DEFAULT_VOLUME_GB, "containerDiskInGb": CONTAINER_DISK_GB,
        "volumeMountPath": "/workspace", "minVcpuCount": int(offer.vcpus or 1), "minMemoryInGb": int(offer.memory_gib or 1),
        "name": name, "imageName": request.image_id or DEFAULT_IMAGE, "ports": _ports_field(request.ports),
        "env": [{"key": "PUBLIC_KEY", "value": user_key().public}], "startSsh": True, "supportPublicIp": True,
    }
    if offer.zone:
        pod["dataCenterId"] = offer.zone
    if bid_per_gpu is not None:
        pod["bidPerGpu"] = bid_per_gpu
    return pod


def _ports_field(ports: Sequence[str]) -> str:
    """RunPod's `ports` string: SSH over TCP, the task's ports as HTTP (ranges expanded; RunPod maps them at creation only)."""
    out = ["22/tcp"]
    for port in ports:
        low, _, high = str(port).partition("-")
        for number in range(int(low), int(high or low) + 1):
            out.append(f"{number}/http")
    if len(out) > _MAX_PORTS + 1:
        raise NotSupportedError(f"RunPod maps at most {_MAX_PORTS} ports per pod; the task asks for {len(out) - 1}.")
    return ",".join(out)


def _install_autostop(api: RunPodApi, head: NodeInfo, pod_id: str) -> None:
    selfcall.install(head, settings().api_endpoint, api.key, {
        "stop": {"query": STOP, "variables": {"input": {"podId": pod_id}}},
        "down": {"query": TERMINATE, "variables": {"input": {"podId": pod_id}}},
    })


def _pod(api: RunPodApi, pod_id: str) -> dict[str, Any] | None:
    return next((p for p in api.pods() if str(p.get("id")) == pod_id), None)


def _wait_for_ssh_port(api: RunPodApi, pod_id: str, zone: str | None, cancelled) -> vm.Machine:
    """Poll until the pod runs with a public port mapped to 22; a cancel or a pod that goes away ends the wait."""
    deadline = time.monotonic() + SSH_PORT_WAIT_S
    user = settings().ssh_user
    while True:
        if cancelled():
            raise LaunchCancelled("Cancelled while RunPod was starting the pod; it is being terminated.")
        pod = _pod(api, pod_id)
        if pod is None or pod.get("desiredStatus") not in ("RUNNING", "CREATED"):
            raise CapacityError(f"RunPod's pod in {zone} went away while starting ({(pod or {}).get('desiredStatus', 'gone')}).")
        ports = ((pod.get("runtime") or {}).get("ports")) or []
        ssh = next((p for p in ports if p.get("privatePort") == 22 and p.get("isIpPublic") and p.get("ip")), None)
        if ssh is not None:
            return vm.Machine(str(ssh["ip"]), str(ssh["ip"]), user, int(ssh["publicPort"]), facts={"pod_id": pod_id})
        if time.monotonic() >= deadline:
            raise CapacityError(f"RunPod's pod in {zone} mapped no SSH port within {SSH_PORT_WAIT_S:g} s.")
        time.sleep(_POLL_S)


def _remove(api: RunPodApi, facts: RunPodCluster) -> None:
    for pod in api.pods():
        if str(pod.get("id")) == facts.pod_id or pod.get("name") == facts.name:
            api.terminate(str(pod["id"]))
