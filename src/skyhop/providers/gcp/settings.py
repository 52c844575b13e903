"""The `gcp:` section of config.yaml: where the API is, which project, how skyhop reaches the VMs.

`compute_endpoint` redirects the Compute Engine API (a private endpoint, or the
tests' replay server); `use_internal_ips` is SkyPilot's `gcp.use_internal_ips`
(skyhop runs inside the VPC and SSHes to the private addresses);
`ssh_user` is the login skyhop puts into the instances' `ssh-keys` metadata.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from skyhop.errors import ConfigError

COMPUTE_ENDPOINT = "https://compute.googleapis.com/compute/v1"
_KEYS = ("compute_endpoint", "project_id", "use_internal_ips", "ssh_user", "network")
_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")


@dataclass(frozen=True)
class Settings:
    compute_endpoint: str = COMPUTE_ENDPOINT
    project_id: str | None = None
    use_internal_ips: bool = False
    ssh_user: str = "skyhop"
    network: str = "default"


def load() -> Settings:
    from skyhop.config import load_config

    section: Any = load_config().get("gcp") or {}
    if not isinstance(section, dict):
        raise ConfigError("config.yaml: `gcp` must be a mapping of settings.")
    unknown = sorted(set(section) - set(_KEYS))
    if unknown:
        raise ConfigError(f"config.yaml: unknown setting gcp.{unknown[0]} (known: {', '.join(_KEYS)}).")
    for key in ("compute_endpoint", "project_id", "ssh_user", "network"):
        if key in section and not isinstance(section[key], str):
            raise ConfigError(f"config.yaml: gcp.{key} must be a string.")
    if "use_internal_ips" in section and not isinstance(section["use_internal_ips"], bool):
        raise ConfigError("config.yaml: gcp.use_internal_ips must be true or false.")
    user = section.get("ssh_user", Settings.ssh_user)
    if not _USER.fullmatch(user):
        raise ConfigError(f"config.yaml: gcp.ssh_user {user!r} is not a Linux user name (lowercase letters, digits, _ and -).")
    return Settings(**section)
