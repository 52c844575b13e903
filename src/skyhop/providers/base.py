"""The Provider protocol and the plain records it exchanges with orchestration.

Providers create, query, stop and remove machines; everything that happens on
a machine afterwards (agent, sync, jobs) goes through the `CommandRunner` a
provider hands out, so the execution layer is the same for every provider.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Protocol

if TYPE_CHECKING:
    from skyhop.catalog.offer import Offer
    from skyhop.providers.credentials import CheckResult
    from skyhop.providers.runner import CommandRunner

# Cluster-level states a provider reports from `query`.
RUNNING = "RUNNING"
STOPPED = "STOPPED"
TERMINATED = "TERMINATED"
PARTIAL = "PARTIAL"  # some nodes exist, others do not: needs `down` or a relaunch


@dataclass(frozen=True)
class Observed:
    """A `query` answer with the reason behind it (which node is missing, and why)."""

    state: str
    reason: str | None = None


@dataclass(frozen=True)
class NodeInfo:
    """One machine of a cluster as the agent sees it."""

    rank: int
    ip: str
    base: str  # the agent's base directory on that node
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def workdir(self) -> str:
        return f"{self.base}/workdir"

    def to_json(self) -> dict[str, Any]:
        return {"rank": self.rank, "ip": self.ip, "base": self.base, "workdir": self.workdir, **dict(self.extra)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "NodeInfo":
        extra = {k: v for k, v in data.items() if k not in ("rank", "ip", "base", "workdir")}
        return cls(int(data["rank"]), str(data["ip"]), str(data["base"]), extra)


@dataclass(frozen=True)
class ClusterInfo:
    """What a provider created: enough to find, reach and remove it again.

    Stored as JSON in the state store (`handle`), so it must round-trip.
    """

    provider: str
    cluster_name: str
    region: str | None
    zone: str | None
    nodes: tuple[NodeInfo, ...]
    data: Mapping[str, Any] = field(default_factory=dict)  # provider-private ids and paths

    @property
    def head(self) -> NodeInfo:
        return self.nodes[0]

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "cluster_name": self.cluster_name,
            "region": self.region,
            "zone": self.zone,
            "nodes": [n.to_json() for n in self.nodes],
            "data": dict(self.data),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ClusterInfo":
        return cls(
            str(data["provider"]),
            str(data["cluster_name"]),
            data.get("region"),
            data.get("zone"),
            tuple(NodeInfo.from_json(n) for n in data.get("nodes") or ()),
            dict(data.get("data") or {}),
        )


@dataclass(frozen=True)
class LaunchRequest:
    """Create `num_nodes` machines of `offer` in its region/zone, named for `cluster_name`."""

    cluster_name: str
    offer: "Offer"
    num_nodes: int
    use_spot: bool = False
    cpus: float | None = None  # what the task asked for per node, for capacity checks
    memory_gib: float | None = None


class Provider(Protocol):
    """One kind of infra. Implementations raise `skyhop.providers.errors` types only.

    Optional: `preempt(cluster, rank)`, which makes one node vanish the way a
    spot reclaim does (`skyhop chaos preempt`; see execution/chaos.py).
    """

    name: str

    def check(self) -> "CheckResult":
        """Whether this provider is usable here, and why (not)."""

    def offers(self) -> Iterable["Offer"]:
        """Offers beyond the price catalog (machines that exist: local, SSH pools)."""

    def launch(self, request: LaunchRequest) -> ClusterInfo:
        """Create the nodes; on failure remove whatever was created, then raise."""

    def find(self, cluster_name: str) -> ClusterInfo | None:
        """What exists for a cluster name (by tags or paths): recovery after a crash mid-launch."""

    def query(self, cluster: ClusterInfo) -> "str | Observed":
        """RUNNING, STOPPED, TERMINATED or PARTIAL, from the infra itself (an `Observed` adds the reason)."""

    def stop(self, cluster: ClusterInfo) -> None:
        """Stop the nodes, keeping their disks."""

    def start(self, cluster: ClusterInfo) -> ClusterInfo:
        """Start stopped nodes again; IPs may change, so the info is returned anew."""

    def terminate(self, cluster: ClusterInfo) -> None:
        """Remove everything; a no-op for what is already gone (idempotent)."""

    def runner(self, cluster: ClusterInfo, node: NodeInfo) -> "CommandRunner":
        """How to run commands on and copy files to one node."""
