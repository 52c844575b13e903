"""Which pool host belongs to which cluster: a small JSON file under a file lock.

Hosts are finite: a cluster takes whole hosts and gives them back on stop
and down. The lock makes two launches racing for the last host safe.
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from typing import Iterator, Sequence

from skyhop import paths


def _file():
    return paths.private_dir(paths.home() / "ssh") / "leases.json"


@contextmanager
def _locked() -> Iterator[dict[str, str]]:
    path = _file()
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            leases = json.loads(path.read_text()) if path.exists() else {}
        except ValueError:
            leases = {}
        yield leases
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(leases, indent=1, sort_keys=True))
        os.replace(tmp, path)


def acquire(cluster: str, candidates: Sequence[str], count: int, prefer: Sequence[str] = ()) -> list[str] | None:
    """Lease `count` free hosts (preferring `prefer`, e.g. the ones held before a stop); None if too few."""
    with _locked() as leases:
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
    with _locked() as leases:
        for host in [h for h, owner in leases.items() if owner == cluster]:
            del leases[host]


def holders(candidates: Sequence[str]) -> dict[str, str]:
    with _locked() as leases:
        return {h: leases[h] for h in candidates if h in leases}
