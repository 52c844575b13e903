"""What the AWS provider keeps about a cluster (`ClusterInfo.data["aws"]`) and a node (`NodeInfo.extra["aws"]`).

Typed records with a JSON form, so the stored handle round-trips and every
field the provider reads back has one spelling.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping


@dataclass(frozen=True)
class AwsCluster:
    region: str
    zone: str | None  # the zone's name in this account (us-east-1a)
    zone_id: str | None  # its account-independent id (use1-az6), as the catalog names it
    owner: str
    launch_id: str
    key_name: str | None = None
    security_group_id: str | None = None
    placement_group: str | None = None
    instance_ids: tuple[str, ...] = ()  # by rank
    internal_ips: bool = False
    unfinished: bool = False  # found by tags after a crash: nothing to keep, only to remove

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["instance_ids"] = list(self.instance_ids)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "AwsCluster":
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        known["instance_ids"] = tuple(str(i) for i in data.get("instance_ids") or ())
        return cls(**known)


@dataclass(frozen=True)
class AwsNode:
    instance_id: str
    private_ip: str
    public_ip: str | None
    spot: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "AwsNode":
        return cls(str(data["instance_id"]), str(data["private_ip"]), data.get("public_ip"), bool(data.get("spot")))
