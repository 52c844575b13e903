"""`/api/v1/pools/...`: SSH node pools, their hosts' leases and reachability.

The CLI's `skyhop ssh add|ls|rm` and `skyhop check` come through here, so
pools and leases are read and changed where the clusters run (the server's
state store), also when the server is remote or several share a database.
Bodies are typed: a malformed one is a 422 that names the field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from skyhop.server.auth import policy
from skyhop.server.deps import Caller

router = APIRouter(prefix="/api/v1/pools", tags=["pools"])

#: A pool name as config.yaml allows it (providers.ssh.pools.POOL_NAME): a 422 names the field.
PoolName = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]


class PoolSettings(BaseModel):
    """Pool-wide settings of `skyhop ssh add` (None: leave as is)."""

    model_config = ConfigDict(extra="forbid")

    user: str | None = Field(default=None, min_length=1, max_length=255)
    identity_file: str | None = Field(default=None, min_length=1, max_length=4096)
    port: int | None = Field(default=None, ge=1, le=65535)
    jump: str | None = Field(default=None, min_length=1, max_length=1024)
    price: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    cpus: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    memory_gib: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    accelerators: dict[str, int] | None = None
    host_key_policy: Literal["accept-new", "yes", "no"] | None = None


class AddHosts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hosts: list[str] = Field(..., min_length=1, max_length=1000)
    settings: PoolSettings = Field(default_factory=PoolSettings)


@router.get("")
def list_pools(check: bool = False) -> list[dict[str, Any]]:
    from skyhop.providers.ssh.pool_config import listing

    return listing(check)


@router.post("/{pool}/hosts")
def add_hosts(caller: Caller, pool: PoolName, body: AddHosts) -> dict[str, Any]:
    from skyhop.providers.ssh.pool_config import add_hosts as add

    policy.require_admin(caller, "Adding hosts to a node pool")
    return {"pool": pool, "added": add(pool, body.hosts, body.settings.model_dump())}


@router.delete("/{pool}")
def remove_hosts(caller: Caller, pool: PoolName, host: Annotated[list[str] | None, Query(max_length=1000)] = None) -> dict[str, Any]:
    from skyhop.providers.ssh.pool_config import remove

    policy.require_admin(caller, "Removing hosts from a node pool")
    return {"pool": pool, "removed": remove(pool, host or [])}


@router.get("/reach")
def reach_hosts() -> list[dict[str, Any]]:
    """Every host of every pool, reached over SSH now (in parallel; a dead host costs the connect timeout)."""
    from skyhop.providers.ssh.pools import configured_pools
    from skyhop.providers.ssh.reach import reach

    return [r.to_json() for r in reach(list(configured_pools().values()))]
