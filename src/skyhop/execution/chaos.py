"""Chaos, as a feature: make a node disappear the way a spot reclaim does.

Users aim it at their own clusters to see that their checkpointing works; the
managed-jobs recovery tests aim it at theirs. What "disappear" means is the
provider's business (`preempt(cluster, rank)`): its processes die at once and
skyhop cannot reach it until the cluster is released. Detection is left to the
normal paths (`status --refresh`, the job's gang failing), so chaos exercises
exactly what a real preemption would.
"""

from __future__ import annotations

from typing import Any

from skyhop.errors import SkyhopError
from skyhop.execution import handles
from skyhop.execution.locks import cluster_lock
from skyhop.providers.base import Preemptible


def preempt(store, name: str, node: int) -> dict[str, Any]:
    from skyhop.execution import lifecycle

    with cluster_lock(name):
        record = lifecycle.require_up(store, name)
        info = handles.cluster_info(record)
        if not 0 <= node < len(info.nodes):
            raise SkyhopError(f"Cluster '{name}' has nodes 0..{len(info.nodes) - 1}; there is no node {node}.")
        provider = handles.provider_of(record)
        if not isinstance(provider, Preemptible):
            raise SkyhopError(f"The {record.provider} provider cannot simulate a preemption (its nodes cannot be made to vanish on demand).")
        provider.preempt(info, node)
    return {
        "cluster": name,
        "node": node,
        "message": f"Node {node} ({info.nodes[node].ip}) of '{name}' was preempted; `skyhop status --refresh` shows what skyhop sees.",
    }
