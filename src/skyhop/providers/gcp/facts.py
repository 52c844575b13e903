"""What the GCP provider keeps about a cluster (`ClusterInfo.data["gcp"]`) and a node (`NodeInfo.extra["gcp"]`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping


@dataclass(frozen=True)
class GcpCluster:
    """The project and zone the instances live in, their names, and the cluster's firewall rule and network tag.

    `unfinished`: recovered by `find` after a crash mid-launch; nothing to keep, everything to remove.
    """

    project: str
    zone: str
    instances: tuple[str, ...]
    network_tag: str
    firewall: str
    launch_id: str = ""
    spot: bool = False
    unfinished: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"project": self.project, "zone": self.zone, "instances": list(self.instances), "network_tag": self.network_tag,
                "firewall": self.firewall, "launch_id": self.launch_id, "spot": self.spot, "unfinished": self.unfinished}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "GcpCluster":
        return cls(str(data["project"]), str(data["zone"]), tuple(str(n) for n in data.get("instances") or ()), str(data.get("network_tag", "")),
                   str(data.get("firewall", "")), str(data.get("launch_id", "")), bool(data.get("spot")), bool(data.get("unfinished")))


@dataclass(frozen=True)
class GcpNode:
    """One instance: its name (unique in the zone) and the addresses it had when last read."""

    name: str
    network_ip: str
    nat_ip: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "network_ip": self.network_ip, "nat_ip": self.nat_ip}
