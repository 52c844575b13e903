"""The managed-jobs controller's timing, from the `jobs:` section of config.yaml.

    jobs:
      poll_seconds: 5          # how often each running job's cluster and agent are checked
      controller_tick_seconds: 1
      lease_seconds: 30        # a silent server's jobs are taken over after this
      spot_retry_seconds: 300  # deadline policies: after a spot launch found no capacity, spot counts as gone this long

Detecting a preemption takes at most one poll (plus the provider's query), so
the default meets the 15 s budget with room to spare; tests use much shorter ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_KEYS = {"poll_seconds": (5.0, 0.05), "controller_tick_seconds": (1.0, 0.05), "lease_seconds": (30.0, 1.0), "spot_retry_seconds": (300.0, 0.05)}


@dataclass(frozen=True)
class JobsSettings:
    poll_s: float = _KEYS["poll_seconds"][0]
    tick_s: float = _KEYS["controller_tick_seconds"][0]
    lease_s: float = _KEYS["lease_seconds"][0]
    spot_retry_s: float = _KEYS["spot_retry_seconds"][0]


def from_config(section: Any) -> JobsSettings:
    """Settings from config.yaml's `jobs:` mapping (None: defaults); a bad value is a ConfigError naming the key."""
    from skyhop.config import number_settings

    values = number_settings(section, "jobs", _KEYS)
    return JobsSettings(values["poll_seconds"], values["controller_tick_seconds"], values["lease_seconds"], values["spot_retry_seconds"])
