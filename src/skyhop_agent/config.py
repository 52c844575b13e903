"""The cluster description (`BASE/cluster.json`): loading and validation.

The broker writes it once at `init`; every other verb reads it. Validation
happens at `init` so that a bad description fails there, with a clear message,
instead of deep inside a job driver.
"""

from __future__ import annotations

import json
import math
import sys

from skyhop_agent.errors import AgentError
from skyhop_agent.paths import Layout

TYPE_CHECKING = False  # typing's constant without importing typing (see cli.py)
if TYPE_CHECKING:
    from typing import Any


class Node:
    """One node of the cluster: where its processes run and what IP jobs see."""

    def __init__(self, ip: str, base: str, workdir: str | None, exec_prefix: list[str] | None, home: str | None = None) -> None:
        self.ip = ip
        self.base = base
        self.workdir = workdir
        self.exec_prefix = exec_prefix
        # Where `~` points for the job's processes when not the user's own home
        # (a node that shares this machine must not edit the real ~/.bashrc).
        self.home = home


class Cluster:
    """The parsed `cluster.json`; `resources` describe each node (all nodes are alike)."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.name: str = raw["cluster_name"]
        self.provider: str = raw["provider"]
        self.user: str = raw["user"]
        self.nodes = [Node(n["ip"], n["base"], n.get("workdir"), n.get("exec_prefix"), n.get("home")) for n in raw["nodes"]]
        resources = raw["resources"]
        self.cpus = float(resources["cpus"])
        self.gpu_ids: dict[str, list[int]] = resources["gpu_ids"]
        self.remove_on_down: list[str] = raw["remove_on_down"]
        self.autostop_hooks: dict[str, list[str]] | None = raw["autostop_hooks"]

    def gpu_capacity(self) -> dict[str, int]:
        return {kind: len(ids) for kind, ids in self.gpu_ids.items()}


def _fail(message: str) -> AgentError:
    return AgentError("Invalid cluster config: " + message)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _string_list(value: object, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(f"{what} must be a list of strings, got {value!r}.")
    return value


def _check_nodes(nodes: object) -> list[dict[str, Any]]:
    if not isinstance(nodes, list) or not nodes:
        raise _fail("'nodes' must be a non-empty list.")
    for node in nodes:
        if not isinstance(node, dict):
            raise _fail(f"each node must be an object, got {node!r}.")
        for key in ("ip", "base"):
            if not isinstance(node.get(key), str) or not node[key]:
                raise _fail(f"node {node!r} needs a string {key!r}.")
        if node.get("workdir") is not None and not isinstance(node["workdir"], str):
            raise _fail(f"node 'workdir' must be a string, got {node['workdir']!r}.")
        if node.get("home") is not None and not isinstance(node["home"], str):
            raise _fail(f"node 'home' must be a string, got {node['home']!r}.")
        if node.get("exec_prefix") is not None:
            _string_list(node["exec_prefix"], "node 'exec_prefix'")
    ranks = [node.get("rank") for node in nodes]
    if ranks != list(range(len(nodes))):
        raise _fail(f"node ranks must be 0..{len(nodes) - 1} in order, got {ranks!r}.")
    return nodes


def _normalize_gpus(resources: dict[str, Any]) -> dict[str, list[int]]:
    """GPU indices per type; `gpu_ids` wins, else `gpus` counts mean indices 0..n-1."""
    counts = resources.get("gpus") or {}
    ids = resources.get("gpu_ids") or {}
    if not isinstance(counts, dict) or not isinstance(ids, dict):
        raise _fail("'resources.gpus' and 'resources.gpu_ids' must be objects.")
    result = {}
    for kind in set(counts) | set(ids):
        if kind in ids:
            indices = ids[kind]
            if not isinstance(indices, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in indices):
                raise _fail(f"'resources.gpu_ids.{kind}' must be a list of integers, got {indices!r}.")
            if kind in counts and counts[kind] != len(indices):
                raise _fail(f"'resources.gpus.{kind}' is {counts[kind]!r} but 'gpu_ids.{kind}' lists {len(indices)}.")
        else:
            count = counts[kind]
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise _fail(f"'resources.gpus.{kind}' must be a whole number, got {count!r}.")
            indices = list(range(count))
        result[kind] = indices
    return result


def validate(raw: object) -> dict[str, Any]:
    """Check a cluster description and fill in defaults; returns what `init` stores."""
    if not isinstance(raw, dict):
        raise _fail("expected a JSON object.")
    for key in ("cluster_name", "provider", "user"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise _fail(f"{key!r} must be a non-empty string.")
    _check_nodes(raw.get("nodes"))
    resources = raw.get("resources")
    if not isinstance(resources, dict) or not _is_number(resources.get("cpus")) or resources["cpus"] <= 0:
        raise _fail("'resources.cpus' must be a positive number.")
    resources = dict(resources, gpu_ids=_normalize_gpus(resources))
    resources["gpus"] = {kind: len(ids) for kind, ids in resources["gpu_ids"].items()}
    hooks = raw.get("autostop_hooks")
    if hooks is not None:
        if not isinstance(hooks, dict) or set(hooks) - {"stop", "down"}:
            raise _fail("'autostop_hooks' must be null or an object with 'stop' and/or 'down'.")
        for action, argv in hooks.items():
            _string_list(argv, f"'autostop_hooks.{action}'")
    return dict(
        raw,
        resources=resources,
        remove_on_down=_string_list(raw.get("remove_on_down") or [], "'remove_on_down'"),
        autostop_hooks=hooks,
    )


def load(layout: Layout) -> Cluster:
    """The cluster of this base directory; a clear error when `init` never ran."""
    try:
        with open(layout.cluster_json) as f:
            raw = json.load(f)
    except FileNotFoundError:
        raise AgentError(f"No cluster config at {layout.cluster_json}: run `init` first.") from None
    except ValueError as e:
        raise AgentError(f"Cluster config {layout.cluster_json} is not valid JSON: {e}") from None
    return Cluster(validate(raw))


def read_json_file(path: str, what: str) -> object:
    """Read a JSON input file (`-` for stdin) with user-facing errors."""
    try:
        if path == "-":
            return json.load(sys.stdin)
        with open(path) as f:
            return json.load(f)
    except OSError as e:
        raise AgentError(f"Cannot read the {what} {path}: {e.strerror}") from None
    except ValueError as e:
        raise AgentError(f"The {what} {path} is not valid JSON: {e}") from None

