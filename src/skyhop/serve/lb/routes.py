"""`DIR/routes.json`, the controller's list of ready replicas, read into ledger Routes when it changes.

Why a polled file and not a socket: the controller writes it atomically (tmp + rename), so a reader
sees the old or the new file whole, and an LB restarted by the controller finds the current routes
at once without a handshake. One `stat` every 0.25 s is ~4 syscalls a second; inotify would save
nothing measurable and needs a dependency or ctypes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from skyhop.serve.lb.ledger import Route, qps_weight

ROUTES_FILE = "routes.json"


class RoutesError(ValueError):
    """routes.json is not what the controller contract says; the LB keeps its previous routes."""


def parse_routes(document: object) -> list[Route]:
    """Routes from the decoded JSON document; every field checked so a bad write is refused whole."""
    if not isinstance(document, Mapping) or not isinstance(document.get("routes"), list):
        raise RoutesError('routes.json must be an object with a "routes" list')
    target = document.get("target_qps_per_replica")
    if not (target is None or isinstance(target, (int, float, Mapping))):
        raise RoutesError("target_qps_per_replica must be null, a number or an object of numbers")
    routes = []
    for item in document["routes"]:
        if not isinstance(item, Mapping):
            raise RoutesError("each route must be an object")
        replica_id, url, accelerator = item.get("replica_id"), item.get("url"), item.get("accelerator")
        if not isinstance(replica_id, int) or isinstance(replica_id, bool):
            raise RoutesError(f"replica_id must be an integer, not {replica_id!r}")
        if not isinstance(url, str) or urlsplit(url).scheme != "http" or not urlsplit(url).hostname:
            raise RoutesError(f"replica {replica_id}: url must be http://host:port, not {url!r}")
        if accelerator is not None and not isinstance(accelerator, str):
            raise RoutesError(f"replica {replica_id}: accelerator must be a string or null")
        qps = qps_weight(accelerator, target) * _weight(item, replica_id)
        try:
            routes.append(Route(replica_id=replica_id, url=url.rstrip("/"), accelerator=accelerator, qps=qps))
        except ValueError as error:
            raise RoutesError(str(error)) from None
    return routes


def parse_hold(document: Mapping[str, object]) -> bool:
    """Whether a request that finds no ready replica waits for one (`hold`, true when absent): the controller says
    false while none is coming (the service FAILED), so the endpoint answers 503 at once instead of at the wait
    timeout (600 s)."""
    hold = document.get("hold", True)
    if not isinstance(hold, bool):
        raise RoutesError(f"hold must be true or false, not {hold!r}")
    return hold


def _weight(item: Mapping[str, object], replica_id: int) -> float:
    """The controller's per-replica multiplier on the accelerator's QPS (1.0 when absent)."""
    weight = item.get("weight", 1.0)
    if weight is None:
        return 1.0
    if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not weight > 0:
        raise RoutesError(f"replica {replica_id}: weight must be a positive number, not {weight!r}")
    return float(weight)


class RoutesFile:
    """Watches one routes.json: `changed()` answers the new routes once per new file, else None."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / ROUTES_FILE
        self._seen: tuple[int, int, int] | None = None
        self.hold = True  # the last file's `hold` (parse_hold)

    def changed(self) -> list[Route] | None:
        """New routes when the file was replaced or rewritten since the last call; None when unchanged or absent.

        Raises RoutesError for a file that is there but wrong (the caller reports it and keeps serving).
        """
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return None
        key = (info.st_ino, info.st_mtime_ns, info.st_size)
        if key == self._seen:
            return None
        self._seen = key
        try:
            document = json.loads(self.path.read_bytes())
        except (OSError, ValueError) as error:
            raise RoutesError(f"cannot read {self.path}: {error}") from None
        routes = parse_routes(document)
        self.hold = parse_hold(document)
        return routes
