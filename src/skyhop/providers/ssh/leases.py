"""Which pool host belongs to which cluster: a small JSON file under a file lock.

Hosts are finite: a cluster takes whole hosts and gives them back on stop
and down. The lock makes two launches racing for the last host safe.

The file also remembers each cluster's head (so a launch short of hosts can
check whether a holder stopped itself by autostop while no client was
running) and which hosts `skyhop chaos preempt` made disappear.

    {"hosts": {HOST: CLUSTER}, "heads": {CLUSTER: {"target": {...}, "base": DIR}},
     "preempted": {HOST: CLUSTER}, "keys": {CLUSTER: KEY_COMMENT}}

`keys` is written before a launch touches any host, so a launch cut short by a
crash (no handle stored yet) can still be found and cleaned up from here.
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from typing import Any, Iterator, Mapping, Sequence

from skyhop import paths

SECTIONS = ("hosts", "heads", "preempted", "keys")


def _file():
    return paths.private_dir(paths.home() / "ssh") / "leases.json"


@contextmanager
def _locked(*, write: bool = True) -> Iterator[dict[str, dict[str, Any]]]:
    """The file's contents under its lock; written back (atomically) unless `write` is False."""
    path = _file()
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
        try:
            data = json.loads(path.read_text()) if path.exists() else {}
        except ValueError:
            data = {}
        for section in SECTIONS:
            data.setdefault(section, {})
        yield data
        if write:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
            os.replace(tmp, path)


def acquire(cluster: str, candidates: Sequence[str], count: int, prefer: Sequence[str] = ()) -> list[str] | None:
    """Lease `count` free hosts (preferring `prefer`, e.g. the ones held before a stop); None if too few."""
    with _locked() as data:
        leases = data["hosts"]
        mine = [h for h in candidates if leases.get(h) == cluster]
        free = [h for h in candidates if h not in leases]
        ordered = mine + [h for h in prefer if h in free] + [h for h in free if h not in prefer]
        if len(ordered) < count:
            return None
        chosen = ordered[:count]
        for host in chosen:
            leases[host] = cluster
        return chosen


def release(cluster: str) -> None:
    """Give back the cluster's hosts (a preempted host becomes reachable again)."""
    with _locked() as data:
        for section in ("hosts", "preempted"):
            for host in [h for h, owner in data[section].items() if owner == cluster]:
                del data[section][host]
        data["heads"].pop(cluster, None)
        data["keys"].pop(cluster, None)


def held_by(cluster: str) -> list[str]:
    with _locked(write=False) as data:
        return [h for h, owner in data["hosts"].items() if owner == cluster]


def note_key(cluster: str, comment: str) -> None:
    with _locked() as data:
        data["keys"][cluster] = comment


def key_of(cluster: str) -> str | None:
    with _locked(write=False) as data:
        return data["keys"].get(cluster)


def holders(candidates: Sequence[str]) -> dict[str, str]:
    with _locked(write=False) as data:
        return {h: data["hosts"][h] for h in candidates if h in data["hosts"]}


def note_head(cluster: str, target: Mapping[str, Any], base: str) -> None:
    with _locked() as data:
        data["heads"][cluster] = {"target": dict(target), "base": base}


def head_of(cluster: str) -> dict[str, Any] | None:
    with _locked(write=False) as data:
        return data["heads"].get(cluster)


def mark_preempted(cluster: str, host: str) -> None:
    with _locked() as data:
        data["preempted"][host] = cluster


def is_preempted(host: str) -> bool:
    with _locked(write=False) as data:
        return host in data["preempted"]
