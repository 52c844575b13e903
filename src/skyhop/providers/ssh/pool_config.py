"""The API server's side of `skyhop ssh add|ls|rm`: pools in the state store.

Every edit is checked by parsing the result exactly as a launch would, inside
the store transaction that writes it, so a bad `add` changes nothing and
never leaves a pool that breaks every later command. Pools written by hand in
config.yaml are read-only here (they are edited in that file).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from skyhop.errors import ConfigError, SkyhopError
from skyhop.providers.ssh import leases
from skyhop.providers.ssh.pools import (
    PROVIDER,
    Pool,
    configured_pools,
    declared_pools,
    parse_pools,
)

Spec = dict[str, Any]


def _address(host: Any) -> str:
    return host if isinstance(host, str) else str(host.get("ip"))


def _edit(pool: str, change: Callable[[Spec | None], Spec | None]) -> Spec | None:
    from skyhop.state.pools import HostPools

    if pool in declared_pools():
        raise SkyhopError(f"Pool '{pool}' is defined in config.yaml (ssh_node_pools); edit it there, not with `skyhop ssh`.")
    return HostPools(leases.state_store()).edit(PROVIDER, pool, change)


def _parsed(pool: str, spec: Spec) -> Pool:
    """The pool as a launch would read it; a ConfigError names the field (not config.yaml: it is not there)."""
    try:
        return parse_pools({pool: spec})[pool]
    except ConfigError as error:
        raise ConfigError(str(error).replace("config.yaml: ssh_node_pools.", "SSH node pool ", 1)) from None


def add_hosts(pool: str, hosts: list[str], settings: Mapping[str, Any]) -> list[str]:
    """Add hosts (and pool-wide settings) to a pool, creating it; returns the hosts added.

    A change of user or port would give hosts in use new keys and make them
    look free while a cluster holds them, so it is refused.
    """
    added: list[str] = []

    def change(current: Spec | None) -> Spec:
        spec = dict(current or {})
        spec.update({key: value for key, value in settings.items() if value is not None})
        existing = list(spec.get("hosts") or [])
        known = {_address(h) for h in existing}
        added[:] = [h for h in dict.fromkeys(hosts) if h not in known]
        spec["hosts"] = existing + added
        after = {h.key for h in _parsed(pool, spec).hosts}
        if current is not None:
            before = [h.key for h in _parsed(pool, current).hosts]
            orphaned = {key: cluster for key, cluster in leases.holders(before).items() if key not in after}
            if orphaned:
                raise SkyhopError(
                    "That would change how hosts in use are reached: "
                    + ", ".join(f"{k} (cluster '{c}')" for k, c in orphaned.items())
                    + ". Stop or down those clusters first."
                )
        return spec

    _edit(pool, change)
    return added


def remove(pool: str, hosts: list[str]) -> list[str]:
    """Remove hosts from a pool (the whole pool when none are named); refuses hosts a cluster holds."""
    going: list[str] = []

    def change(current: Spec | None) -> Spec | None:
        if current is None:
            names = ", ".join(configured_pools()) or "none"
            raise SkyhopError(f"No SSH node pool named '{pool}' (pools: {names}).")
        existing = list(current.get("hosts") or [])
        unknown = [h for h in hosts if h not in {_address(c) for c in existing}]
        if unknown:
            raise SkyhopError(f"Pool '{pool}' has no host {', '.join(unknown)}.")
        going[:] = hosts or [_address(c) for c in existing]
        by_key = leases.holders([h.key for h in _parsed(pool, current).hosts])
        busy = {h.target.host: by_key[h.key] for h in _parsed(pool, current).hosts if h.key in by_key and h.target.host in going}
        if busy:
            raise SkyhopError(
                "In use: " + ", ".join(f"{h} by cluster '{c}'" for h, c in busy.items()) + ". Stop or down those clusters first."
            )
        remaining = [c for c in existing if _address(c) not in going]
        return dict(current, hosts=remaining) if remaining else None

    _edit(pool, change)
    return going


def listing(probe: bool) -> list[dict[str, Any]]:
    """One row per host of every pool: price, accelerators, the cluster holding it, and (with `probe`) whether it answers."""
    pools = configured_pools()
    held = leases.holders([h.key for p in pools.values() for h in p.hosts])
    reached = {}
    if probe:
        from skyhop.providers.ssh.reach import reach

        reached = {(r.pool, r.host): r for r in reach(list(pools.values()))}
    rows = []
    for pool in pools.values():
        for host in pool.hosts:
            r = reached.get((pool.name, host.target.describe()))
            rows.append({
                "pool": pool.name, "host": host.target.describe(), "price": pool.price,
                "accelerators": dict(pool.accelerators), "cluster": held.get(host.key),
                "reachable": None if r is None else r.reachable, "detail": None if r is None else r.detail,
            })
    return rows
