"""What the Lambda provider keeps about a cluster (`ClusterInfo.data["lambda"]`) and a node (`NodeInfo.extra["lambda"]`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping


@dataclass(frozen=True)
class LambdaCluster:
    """The launch's instances (rank order), the name they and the SSH key carry, and where.

    `unfinished`: rebuilt by `find` after a crash mid-launch, with no nodes
    reached; `query` reports it TERMINATED so `down`/refresh remove it all.
    """

    region: str
    name: str  # the instances' name, also the SSH key's: resource_name(owner, cluster)
    instance_ids: tuple[str, ...] = ()
    launch_id: str = ""
    unfinished: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"region": self.region, "name": self.name, "instance_ids": list(self.instance_ids),
                "launch_id": self.launch_id, "unfinished": self.unfinished}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "LambdaCluster":
        return cls(str(data["region"]), str(data["name"]), tuple(str(i) for i in data.get("instance_ids") or ()),
                   str(data.get("launch_id") or ""), bool(data.get("unfinished")))


@dataclass(frozen=True)
class LambdaNode:
    instance_id: str

    def to_json(self) -> dict[str, Any]:
        return {"instance_id": self.instance_id}
