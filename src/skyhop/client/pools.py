"""SSH node pools over HTTP: what `skyhop ssh add|ls|rm` and `skyhop check` call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from skyhop.client import http
from skyhop.client.api import _segment, _server


def list_pools(*, check: bool = False) -> list[dict[str, Any]]:
    """One row per host: pool, host, price, accelerators, holding cluster, and reachability with `check`."""
    return http.call(_server(), "GET", "/api/v1/pools", params={"check": check})


def add_hosts(pool: str, hosts: list[str], settings: Mapping[str, Any]) -> list[str]:
    """Add hosts (and pool-wide settings) to a pool, creating it; returns the hosts added."""
    body = {"hosts": hosts, "settings": {k: v for k, v in settings.items() if v is not None}}
    return http.call(_server(), "POST", f"/api/v1/pools/{_segment(pool)}/hosts", body=body)["added"]


def remove_hosts(pool: str, hosts: list[str]) -> list[str]:
    """Remove hosts from a pool (the whole pool when none are named); returns the hosts removed."""
    return http.call(_server(), "DELETE", f"/api/v1/pools/{_segment(pool)}", params={"host": hosts})["removed"]


def reach() -> list[dict[str, Any]]:
    """Every pool host, reached over SSH by the server now."""
    return http.call(_server(), "GET", "/api/v1/pools/reach")
