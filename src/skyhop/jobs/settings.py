"""The managed-jobs controller's timing, from the `jobs:` section of config.yaml.

    jobs:
      poll_seconds: 5          # how often each running job's cluster and agent are checked
      controller_tick_seconds: 1
      lease_seconds: 30        # a silent server's jobs are taken over after this

Detecting a preemption takes at most one poll (plus the provider's query), so
the default meets the 15 s budget with room to spare; tests use much shorter ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from skyhop.errors import ConfigError

_KEYS = {"poll_seconds": (5.0, 0.05), "controller_tick_seconds": (1.0, 0.05), "lease_seconds": (30.0, 1.0)}


@dataclass(frozen=True)
class JobsSettings:
    poll_s: float = _KEYS["poll_seconds"][0]
    tick_s: float = _KEYS["controller_tick_seconds"][0]
    lease_s: float = _KEYS["lease_seconds"][0]


def from_config(section: Any) -> JobsSettings:
    """Settings from config.yaml's `jobs:` mapping (None: defaults); a bad value is a ConfigError naming the key."""
    section = section or {}
    if not isinstance(section, dict):
        raise ConfigError(f"config.yaml: jobs must be a mapping, got {type(section).__name__}.")
    unknown = sorted(set(section) - set(_KEYS))
    if unknown:
        raise ConfigError(f"config.yaml: unknown jobs setting(s) {', '.join(map(str, unknown))}; known: {', '.join(_KEYS)}.")
    values = {}
    for key, (default, lowest) in _KEYS.items():
        value = section.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lowest <= value < 1e6:
            raise ConfigError(f"config.yaml: jobs.{key} must be a number >= {lowest:g}, got {value!r}.")
        values[key] = float(value)
    return JobsSettings(values["poll_seconds"], values["controller_tick_seconds"], values["lease_seconds"])
