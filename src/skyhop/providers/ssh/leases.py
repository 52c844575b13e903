"""Which pool host belongs to which cluster: leases in the state store.

Hosts are finite: a cluster takes whole hosts and gives them back on stop
and down. The leases live in the state store (`skyhop.state.leases`), so every
API server process on one database sees the same ones and two launches
racing for the last host cannot both win.

Per cluster the store also keeps the cluster's head (so a launch short of
hosts can check whether a holder stopped itself by autostop while no client
was running) and its key comment, written before a launch touches any host,
so a launch cut short by a crash (no handle stored yet) can still be found
and cleaned up from here. `skyhop chaos preempt` marks hosts preempted.

Older versions kept all this in SKYHOP_HOME/ssh/leases.json under a file
lock; that file is imported once, on first use, and renamed `.imported`.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from skyhop import paths

if TYPE_CHECKING:
    from skyhop.state.leases import HostLeases
    from skyhop.state.store import StateStore

log = logging.getLogger(__name__)


def state_store() -> StateStore:
    """The state store of this process (`SKYHOP_DB_URL` or SKYHOP_HOME's), opened once per URL."""
    from skyhop.state import db

    return _store_of(db.default_url())


@functools.cache
def _store_of(url: str) -> StateStore:
    from skyhop.state.store import StateStore

    return StateStore(url)


def _store() -> HostLeases:
    return _leases_of(state_store())


@functools.cache
def _leases_of(store: StateStore) -> HostLeases:
    from skyhop.state.leases import HostLeases

    leases = HostLeases(store)
    _import_legacy_file(leases)
    return leases


def _import_legacy_file(leases: HostLeases) -> None:
    path = paths.home() / "ssh" / "leases.json"
    if not path.is_file():
        return
    try:
        data = json.loads(path.read_text())
    except ValueError:
        data = {}
    clusters: dict[str, list[str]] = {}
    for host, cluster in (data.get("hosts") or {}).items():
        clusters.setdefault(cluster, []).append(host)
    for cluster, hosts in clusters.items():
        leases.acquire(cluster, hosts, len(hosts))
    for host, cluster in (data.get("preempted") or {}).items():
        leases.mark_preempted(cluster, host)
    for cluster, head in (data.get("heads") or {}).items():
        leases.update_holder_data(cluster, {"head": head})
    for cluster, comment in (data.get("keys") or {}).items():
        leases.update_holder_data(cluster, {"key": comment})
    path.rename(path.with_name("leases.json.imported"))
    log.info("imported %d SSH host lease(s) from %s into the state store", sum(map(len, clusters.values())), path)


def acquire(cluster: str, candidates: Sequence[str], count: int, prefer: Sequence[str] = ()) -> list[str] | None:
    """Lease `count` free hosts (preferring `prefer`, e.g. the ones held before a stop); None if too few."""
    return _store().acquire(cluster, candidates, count, prefer)


def release(cluster: str) -> None:
    """Give back the cluster's hosts (a preempted host becomes reachable again)."""
    _store().release(cluster)


def held_by(cluster: str) -> list[str]:
    return _store().held_by(cluster)


def note_key(cluster: str, comment: str) -> None:
    _store().update_holder_data(cluster, {"key": comment})


def key_of(cluster: str) -> str | None:
    return (_store().holder_data(cluster) or {}).get("key")


def holders(candidates: Sequence[str]) -> dict[str, str]:
    return _store().holders(candidates)


def note_head(cluster: str, target: Mapping[str, Any], base: str) -> None:
    _store().update_holder_data(cluster, {"head": {"target": dict(target), "base": base}})


def head_of(cluster: str) -> dict[str, Any] | None:
    return (_store().holder_data(cluster) or {}).get("head")


def mark_preempted(cluster: str, host: str) -> None:
    _store().mark_preempted(cluster, host)


def is_preempted(host: str) -> bool:
    return _store().is_preempted(host)
