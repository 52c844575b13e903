"""What this provider keeps about a cluster, in `ClusterInfo.data["spheron"]` and `NodeInfo.extra["spheron"]`.

Typed records with an explicit JSON form: the state store keeps handles as
JSON, and a later version of the plugin must still read what an older one
wrote (unknown keys are ignored, missing ones take their defaults).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

NAME = "spheron"


@dataclass(frozen=True)
class SpheronCluster:
    """The launch's ids: the deployments in rank order and the SSH key (when this launch made it)."""

    launch_id: str
    team_id: str | None = None
    deployment_ids: tuple[str, ...] = ()
    ssh_key_id: str | None = None  # None: an existing key of the account was used, not ours to delete
    unfinished: bool = False  # found after a crash: nothing to keep, everything to remove

    def to_json(self) -> dict[str, Any]:
        return {
            "launch_id": self.launch_id, "team_id": self.team_id, "deployment_ids": list(self.deployment_ids),
            "ssh_key_id": self.ssh_key_id, "unfinished": self.unfinished,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "SpheronCluster":
        return cls(
            str(data.get("launch_id") or ""), data.get("team_id"), tuple(str(i) for i in data.get("deployment_ids") or ()),
            data.get("ssh_key_id"), bool(data.get("unfinished")),
        )


@dataclass(frozen=True)
class SpheronNode:
    """One node's deployment."""

    deployment_id: str
    name: str

    def to_json(self) -> dict[str, Any]:
        return {"deployment_id": self.deployment_id, "name": self.name}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "SpheronNode":
        return cls(str(data["deployment_id"]), str(data.get("name") or ""))
