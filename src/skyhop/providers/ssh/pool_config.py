"""Editing `ssh_node_pools` in config.yaml for `skyhop ssh add|rm`.

Every edit is checked by parsing the result exactly as a launch would before
the file is replaced (atomically, 0600: it names keys and hosts), so a bad
`add` never leaves a config that breaks every later command.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from skyhop import paths
from skyhop.config import load_config
from skyhop.errors import SkyhopError
from skyhop.providers.ssh.pools import parse_pools


def _write(config: Mapping[str, Any]) -> bool:
    """Replace config.yaml; True when the old file had comments (which YAML rewriting drops)."""
    import yaml

    path = paths.config_file()
    had_comments = path.is_file() and any(line.lstrip().startswith("#") for line in path.read_text(encoding="utf-8").splitlines())
    paths.private_dir(path.parent)
    tmp = path.with_suffix(".yaml.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        yaml.safe_dump(dict(config), f, sort_keys=False, default_flow_style=False)
    os.replace(tmp, path)
    return had_comments


def add_hosts(pool: str, hosts: list[str], settings: Mapping[str, Any], leased: Mapping[str, str]) -> tuple[list[str], bool]:
    """Add hosts (and pool-wide settings) to a pool, creating it; returns (hosts added, comments dropped).

    `leased` maps host keys (user@address:port) to the cluster holding them: a
    change of user or port would give those hosts new keys and make them look
    free while in use, so it is refused.
    """
    config = load_config()
    pools = dict(config.get("ssh_node_pools") or {})
    before = {h.key for p in parse_pools(pools).values() for h in p.hosts}
    spec = dict(pools.get(pool) or {})
    spec.update({key: value for key, value in settings.items() if value is not None})
    current = list(spec.get("hosts") or [])
    known = {h if isinstance(h, str) else h.get("ip") for h in current}
    added = [h for h in dict.fromkeys(hosts) if h not in known]
    spec["hosts"] = current + added
    pools[pool] = spec
    after = {h.key for p in parse_pools(pools).values() for h in p.hosts}  # ConfigError naming the field if invalid
    orphaned = {key: cluster for key, cluster in leased.items() if key in before and key not in after}
    if orphaned:
        raise SkyhopError(
            "That would change how hosts in use are reached: " + ", ".join(f"{k} (cluster '{c}')" for k, c in orphaned.items())
            + ". Stop or down those clusters first."
        )
    return added, _write({**config, "ssh_node_pools": pools})


def remove(pool: str, hosts: list[str], leased: Mapping[str, str]) -> tuple[list[str], bool]:
    """Remove hosts from a pool (the whole pool when none are named); refuses hosts a cluster holds.

    `leased` maps host addresses to the cluster holding them.
    """
    config = load_config()
    pools = dict(config.get("ssh_node_pools") or {})
    if pool not in pools:
        raise SkyhopError(f"No SSH node pool named '{pool}' (pools: {', '.join(pools) or 'none'}).")
    current = list(pools[pool].get("hosts") or [])
    address = lambda h: h if isinstance(h, str) else h.get("ip")  # noqa: E731
    unknown = [h for h in hosts if h not in {address(c) for c in current}]
    if unknown:
        raise SkyhopError(f"Pool '{pool}' has no host {', '.join(unknown)}.")
    going = hosts or [address(c) for c in current]
    busy = {h: leased[h] for h in going if h in leased}
    if busy:
        raise SkyhopError(
            "In use: " + ", ".join(f"{h} by cluster '{c}'" for h, c in busy.items()) + ". Stop or down those clusters first."
        )
    remaining = [c for c in current if address(c) not in going]
    if remaining:
        pools[pool] = dict(pools[pool], hosts=remaining)
    else:
        del pools[pool]
    config = {**config, "ssh_node_pools": pools} if pools else {k: v for k, v in config.items() if k != "ssh_node_pools"}
    return going, _write(config)
