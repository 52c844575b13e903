"""The serve controller's timing and the load balancer's address, from config.yaml's `serve:` section.

    serve:
      probe_seconds: 10             # how often each replica's readiness probe runs (SkyServe: 10)
      decision_seconds: 20          # how often the autoscaler decides (SkyServe: 20; 5 while scaled to zero)
      drain_seconds: 30             # the longest a removed replica waits for its in-flight requests
      probe_failure_seconds: 180    # a READY replica failing its probe this long is replaced (SkyServe: 180)
      qps_window_seconds: 60        # the request rate the autoscaler reads is over this window (SkyServe: 60)
      load_balancer_host: 127.0.0.1 # where service endpoints listen; 0.0.0.0 to serve other machines

Tests use much shorter times.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from skyhop.errors import ConfigError

_KEYS = {"probe_seconds": (10.0, 0.05), "decision_seconds": (20.0, 0.05), "drain_seconds": (30.0, 0.0), "probe_failure_seconds": (180.0, 0.0),
         "qps_window_seconds": (60.0, 1.0)}
_HOST = "load_balancer_host"


@dataclass(frozen=True)
class ServeSettings:
    probe_s: float = _KEYS["probe_seconds"][0]
    decision_s: float = _KEYS["decision_seconds"][0]
    drain_s: float = _KEYS["drain_seconds"][0]
    probe_failure_s: float = _KEYS["probe_failure_seconds"][0]
    lb_host: str = "127.0.0.1"
    qps_window_s: float = _KEYS["qps_window_seconds"][0]


def from_config(section: Any) -> ServeSettings:
    """Settings from config.yaml's `serve:` mapping (None: defaults); a bad value is a ConfigError naming the key."""
    from skyhop.config import number_settings

    values = number_settings(section, "serve", _KEYS, others=(_HOST,))
    host = (section or {}).get(_HOST, "127.0.0.1")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(f"config.yaml: serve.{_HOST} must be an IP address such as 127.0.0.1 or 0.0.0.0, got {host!r}.") from None
    return ServeSettings(
        values["probe_seconds"], values["decision_seconds"], values["drain_seconds"], values["probe_failure_seconds"], str(host),
        values["qps_window_seconds"],
    )
