"""From a cluster's state record to the provider, its nodes and its agent."""

from __future__ import annotations

from typing import Any, Mapping

from skyhop.catalog.offer import Offer
from skyhop.errors import SkyhopError
from skyhop.execution.agent import AgentClient
from skyhop.providers import registry
from skyhop.providers.base import ClusterInfo, Provider, SelfStopping


def cluster_info(record) -> ClusterInfo:
    if not record.handle:
        raise SkyhopError(f"Cluster '{record.name}' has no machines recorded yet (its launch did not get that far); `skyhop down {record.name}` clears it.")
    return ClusterInfo.from_json(record.handle)


def handle_or_find(record, provider: Provider) -> ClusterInfo | None:
    """The stored handle, else what the provider finds under the name (a launch cut short before storing it)."""
    return ClusterInfo.from_json(record.handle) if record.handle else provider.find(record.name)


def provider_of(record) -> Provider:
    return registry.get(record.provider)


def agent_of(info: ClusterInfo) -> AgentClient:
    return AgentClient(info, registry.get(info.provider).runner(info, info.head))


def launched_resources(offer: Offer, spot: bool) -> dict[str, Any]:
    """What the cluster's nodes are: stored with the cluster, compared on re-launch."""
    return {
        "cloud": offer.cloud,
        "region": offer.region,
        "zone": offer.zone,
        "instance_type": offer.instance_type,
        "cpus": offer.vcpus,
        "memory_gib": offer.memory_gib,
        "accelerators": {offer.accelerator: offer.accelerator_count} if offer.accelerator else None,
        "use_spot": spot,
    }


def describe_resources(resources: Mapping[str, Any], num_nodes: int) -> str:
    """`2x local (2 CPUs, 23.5 GB, H100:1)`: the one-line form status and errors use."""
    parts = []
    if resources.get("cpus") is not None:
        parts.append(f"{resources['cpus']:g} CPUs")
    if resources.get("memory_gib") is not None:
        parts.append(f"{resources['memory_gib']:g} GB")
    for name, count in (resources.get("accelerators") or {}).items():
        parts.append(f"{name}:{count:g}")
    if resources.get("use_spot"):
        parts.append("spot")
    prefix = f"{num_nodes}x " if num_nodes > 1 else ""
    return f"{prefix}{resources.get('instance_type')} ({', '.join(parts)})"


def owner_of(record) -> str:
    """The cluster's owner, as its jobs are labelled ("unknown" for a row that never had one)."""
    return record.user or "unknown"


def agent_config(info: ClusterInfo, resources: Mapping[str, Any], user: str) -> dict[str, Any]:
    """The agent's cluster.json: nodes, per-node capacity, and what autodown removes."""
    measured = info.measured  # what the provider found on the machines (pools that do not say their size)
    gpus = dict(resources.get("accelerators") or {})
    provider = registry.get(info.provider)
    return {
        "cluster_name": info.cluster_name,
        "provider": info.provider,
        "user": user,
        "nodes": [n.to_json() for n in info.nodes],
        "resources": {
            "cpus": resources.get("cpus") or (measured.cpus if measured else None),
            "memory_gib": resources.get("memory_gib") or (measured.memory_gib if measured else None),
            "gpus": gpus,
            "gpu_ids": {name: list(info.gpu_ids.get(name) or range(int(count))) for name, count in gpus.items()},
        },
        "remove_on_down": list(info.remove_on_down),
        # Cloud VMs stop or delete themselves when autostop fires with no client around.
        "autostop_hooks": dict(provider.autostop_hooks(info)) if isinstance(provider, SelfStopping) else None,
    }
