"""The submit spec: validation, defaults, and whether a job can ever fit a node.

Rejecting a job that can never fit at submit time (instead of leaving it
PENDING forever and blocking the FIFO queue behind it) is the whole point of
checking capacity here.
"""

from __future__ import annotations

import math
import re

from skyhop_agent.errors import AgentError

TYPE_CHECKING = False  # typing's constant without importing typing (see cli.py)
if TYPE_CHECKING:
    from typing import Any

    from skyhop_agent.config import Cluster

# What a job asks for when it names no CPUs (as SkyPilot does), so that a few
# small jobs can share a node.
DEFAULT_CPUS = 0.5

# The broker checks names too; the agent checks again because anything that can
# write to its stdin (a raw API, a future client) reaches it directly.
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_OPTIONAL_STRINGS = ("name", "setup", "run", "task_id", "user")
_KEYS = set(_OPTIONAL_STRINGS) | {"envs", "num_nodes", "cpus", "gpus"}


def _fail(message: str) -> AgentError:
    return AgentError("Invalid job spec: " + message)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _envs(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(f"'envs' must be an object, got {value!r}.")
    envs = {}
    for key, val in value.items():
        if not isinstance(key, str) or not _ENV_NAME.fullmatch(key):
            raise _fail(f"{key!r} is not a valid environment variable name (letters, digits and _, not starting with a digit).")
        if isinstance(val, bool) or not isinstance(val, (str, int, float)):
            raise _fail(f"env {key} must be a string or a number, got {val!r}.")
        envs[key] = str(val)
    return envs


def _gpus(value: object) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(f"'gpus' must be an object like {{\"H100\": 1}}, got {value!r}.")
    for kind, count in value.items():
        if not _is_int(count) or count < 0:
            raise _fail(f"GPU count for {kind} must be a whole number >= 0, got {count!r}.")
    return {kind: count for kind, count in value.items() if count > 0}


def parse(raw: object, cluster: Cluster) -> dict[str, Any]:
    """A complete spec (every key present, defaults filled in) or an AgentError."""
    if not isinstance(raw, dict):
        raise _fail("expected a JSON object.")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise _fail(f"unknown keys {unknown}; allowed: {sorted(_KEYS)}.")
    spec: dict[str, Any] = {}
    for key in _OPTIONAL_STRINGS:
        value = raw.get(key)
        if value is not None and not isinstance(value, str):
            raise _fail(f"{key!r} must be a string or null, got {value!r}.")
        spec[key] = value
    spec["envs"] = _envs(raw.get("envs"))
    num_nodes = raw.get("num_nodes")
    if num_nodes is None:
        num_nodes = len(cluster.nodes)
    if not _is_int(num_nodes) or num_nodes < 1:
        raise _fail(f"'num_nodes' must be a whole number >= 1, got {num_nodes!r}.")
    spec["num_nodes"] = num_nodes
    cpus = raw.get("cpus")
    if cpus is None:
        cpus = DEFAULT_CPUS
    if isinstance(cpus, bool) or not isinstance(cpus, (int, float)) or not (math.isfinite(cpus) and cpus >= 0):
        raise _fail(f"'cpus' must be a number >= 0 or null, got {cpus!r}.")
    spec["cpus"] = float(cpus)
    spec["gpus"] = _gpus(raw.get("gpus"))
    return spec


def never_fits(spec: dict[str, Any], cluster: Cluster) -> str | None:
    """Why the job could not run even on an idle cluster, or None if it can."""
    if spec["num_nodes"] > len(cluster.nodes):
        return f"The job asks for {spec['num_nodes']} nodes but cluster {cluster.name} has {len(cluster.nodes)}."
    if spec["cpus"] > cluster.cpus:
        return (
            f"The job asks for {spec['cpus']:g} CPUs per node but each node of cluster "
            f"{cluster.name} has {cluster.cpus:g}."
        )
    capacity = cluster.gpu_capacity()
    for kind, count in sorted(spec["gpus"].items()):
        if count > capacity.get(kind, 0):
            has = ", ".join(f"{n} {k}" for k, n in sorted(capacity.items()) if n) or "no GPUs"
            return f"The job asks for {count} {kind} GPU(s) per node but each node of cluster {cluster.name} has {has}."
    return None
