"""SSH node pools: named groups of machines the user already has.

Pools come from two places: the ones added with `skyhop ssh add` live in the
state store (through the API server, so they work with a remote or shared
server), and the ones written by hand in the server's `config.yaml` under
`ssh_node_pools` keep working as before (read-only to `skyhop ssh`). A name
defined in both is an error. Both have this shape:

    ssh_node_pools:
      a:                          # infra: ssh/a
        price: 0.5                # per host per hour (default 0)
        user: ubuntu              # defaults for every host of the pool
        identity_file: ~/.ssh/id_ed25519
        host_key_policy: accept-new
        cpus: 16                  # per host, for the optimizer (optional)
        memory_gib: 64
        accelerators: {H100: 8}   # per host (optional)
        hosts:
          - 10.0.0.5
          - {ip: 10.0.0.6, port: 2222, user: root, base_dir: /data/skyhop, jump: bastion}

A cluster takes whole hosts; which host belongs to which cluster is kept in
the state store (see leases.py).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from skyhop.errors import ConfigError, SkyhopError
from skyhop.providers.ssh.runner import HOST_KEY_POLICIES, SSHTarget
from skyhop.spec.accelerators import canonical_accelerator

#: The provider name under which the state store keeps these pools.
PROVIDER = "ssh"

_POOL_KEYS = {"price", "user", "identity_file", "host_key_policy", "cpus", "memory_gib", "accelerators", "hosts", "port", "jump"}
_HOST_KEYS = {"ip", "port", "user", "identity_file", "base_dir", "jump"}


@dataclass(frozen=True)
class PoolHost:
    target: SSHTarget
    base_dir: str | None = None

    @property
    def key(self) -> str:
        return self.target.key


@dataclass(frozen=True)
class Pool:
    name: str
    hosts: tuple[PoolHost, ...]
    price: float = 0.0
    cpus: float | None = None
    memory_gib: float | None = None
    accelerators: Mapping[str, float] = field(default_factory=dict)


def _fail(path: str, message: str) -> ConfigError:
    return ConfigError(f"config.yaml: ssh_node_pools.{path}: {message}")


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise _fail(path, f"expected a number >= 0, got {value!r}")
    return float(value)


def _count(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _fail(path, f"expected a whole number of devices per host (>= 1), got {value!r}")
    return float(value)


def parse_pools(raw: Any) -> dict[str, Pool]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError("config.yaml: ssh_node_pools: expected a mapping of pool name -> pool.")
    return {str(name): _parse_pool(str(name), spec) for name, spec in raw.items()}


#: A pool's name is a region in plans and part of `infra: ssh/NAME`.
POOL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


def _parse_pool(name: str, spec: Any) -> Pool:
    if not POOL_NAME.fullmatch(name):
        raise _fail(name[:80], "a pool name is 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit")
    if not isinstance(spec, dict):
        raise _fail(name, "expected a mapping with at least 'hosts'")
    unknown = set(spec) - _POOL_KEYS
    if unknown:
        raise _fail(name, f"unknown key(s) {', '.join(sorted(map(str, unknown)))}; known: {', '.join(sorted(_POOL_KEYS))}")
    policy = spec.get("host_key_policy", "accept-new")
    if policy not in HOST_KEY_POLICIES:
        raise _fail(f"{name}.host_key_policy", f"expected one of {', '.join(HOST_KEY_POLICIES)}, got {policy!r}")
    hosts_raw = spec.get("hosts")
    if not isinstance(hosts_raw, list) or not hosts_raw:
        raise _fail(f"{name}.hosts", "expected a non-empty list of addresses or {ip: ...} mappings")
    defaults = {"user": spec.get("user"), "identity_file": spec.get("identity_file"), "port": spec.get("port", 22), "jump": spec.get("jump")}
    hosts = tuple(_parse_host(f"{name}.hosts[{i}]", h, defaults, policy) for i, h in enumerate(hosts_raw))
    accelerators = spec.get("accelerators") or {}
    if not isinstance(accelerators, dict):
        raise _fail(f"{name}.accelerators", "expected a mapping like {H100: 8}")
    return Pool(
        name=name,
        hosts=hosts,
        price=_number(spec.get("price", 0), f"{name}.price"),
        cpus=_number(spec["cpus"], f"{name}.cpus") if spec.get("cpus") is not None else None,
        memory_gib=_number(spec["memory_gib"], f"{name}.memory_gib") if spec.get("memory_gib") is not None else None,
        # Canonical names (`h100` -> `H100`), as tasks' requests are, so the two match.
        accelerators={canonical_accelerator(str(k)): _count(v, f"{name}.accelerators.{k}") for k, v in accelerators.items()},
    )


def _parse_host(path: str, raw: Any, defaults: dict[str, Any], policy: str) -> PoolHost:
    if isinstance(raw, str):
        raw = {"ip": raw}
    if not isinstance(raw, dict) or not isinstance(raw.get("ip"), str) or not raw["ip"].strip():
        raise _fail(path, "expected an address or a mapping with 'ip'")
    unknown = set(raw) - _HOST_KEYS
    if unknown:
        raise _fail(path, f"unknown key(s) {', '.join(sorted(map(str, unknown)))}; known: {', '.join(sorted(_HOST_KEYS))}")
    values = {**defaults, **{k: v for k, v in raw.items() if v is not None}}
    port = values.get("port", 22)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise _fail(f"{path}.port", f"expected a port number, got {port!r}")
    try:
        target = SSHTarget(
            host=raw["ip"].strip(), user=values.get("user"), port=port, identity_file=values.get("identity_file"),
            jump=values.get("jump"), host_key_policy=policy,
        )
    except SkyhopError as error:
        raise _fail(path, str(error)) from None
    return PoolHost(target, values.get("base_dir"))


def declared_pools() -> dict[str, Pool]:
    """The pools written by hand in config.yaml."""
    from skyhop.config import load_config

    return parse_pools(load_config().get("ssh_node_pools"))


def managed_specs() -> dict[str, dict[str, Any]]:
    """The specs of the pools added with `skyhop ssh add`, from the state store."""
    from skyhop.providers.ssh.leases import state_store
    from skyhop.state.pools import HostPools

    return HostPools(state_store()).specs(PROVIDER)


def configured_pools() -> dict[str, Pool]:
    """Every pool: config.yaml's and the state store's."""
    declared = declared_pools()
    managed = parse_pools(managed_specs())
    both = sorted(declared.keys() & managed.keys())
    if both:
        raise ConfigError(
            f"SSH node pool(s) {', '.join(both)} are defined both in config.yaml (ssh_node_pools) and with "
            "`skyhop ssh add`; remove one: delete it from config.yaml, or `skyhop ssh rm POOL -y`."
        )
    return {**declared, **managed}
