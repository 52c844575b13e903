"""The API server's limits, from the `api_server:` section of config.yaml.

    api_server:
      max_body_mb: 8                # request bodies above this get 413
      request_log_max_mb: 64        # a request's event log stops taking job output here
      request_retention_days: 14    # finished requests older than this are deleted, logs too
      drain_seconds: 10             # on SIGTERM: how long calls and requests in flight may finish before hand-over
      drain_notice_seconds: 2       # on SIGTERM: how long /api/v1/ready says 503 before the port closes (team servers)
      down_backstop_seconds: 30     # launch --down: a cluster whose server died while following its job is
                                    # taken down by its own agent this long after the job (see execution/launch.py)
      public_url: https://skyhop.example.com  # how jobs with api_server_access reach this server
                                    # (default: the address it listens on; jobs on remote hosts need this)

Bounds keep one careless or hostile client from filling the server's memory
or disk; the job's full output always stays on the cluster (`skyhop logs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MIB = 1024 * 1024
_LIMITS = {  # key: (default, lowest allowed)
    "max_body_mb": (8.0, 0.001),
    "request_log_max_mb": (64.0, 0.001),
    "request_retention_days": (14.0, 0.0),
    "drain_seconds": (10.0, 0.0),
    "drain_notice_seconds": (2.0, 0.0),
    "down_backstop_seconds": (30.0, 1.0),
}


@dataclass(frozen=True)
class ServerSettings:
    max_body_bytes: int = int(_LIMITS["max_body_mb"][0] * MIB)
    request_log_max_bytes: int = int(_LIMITS["request_log_max_mb"][0] * MIB)
    request_retention_s: float = _LIMITS["request_retention_days"][0] * 86400
    drain_s: float = _LIMITS["drain_seconds"][0]
    drain_notice_s: float = _LIMITS["drain_notice_seconds"][0]
    down_backstop_s: float = _LIMITS["down_backstop_seconds"][0]
    public_url: str | None = None


def from_config(section: Any) -> ServerSettings:
    """Settings from config.yaml's `api_server:` mapping (None: all defaults); a bad value is a ConfigError."""
    from skyhop.config import number_settings

    values = number_settings(section, "api_server", _LIMITS, others=("public_url",), highest=1e9)
    return ServerSettings(
        max_body_bytes=int(values["max_body_mb"] * MIB),
        request_log_max_bytes=int(values["request_log_max_mb"] * MIB),
        request_retention_s=values["request_retention_days"] * 86400,
        drain_s=values["drain_seconds"],
        drain_notice_s=values["drain_notice_seconds"],
        down_backstop_s=values["down_backstop_seconds"],
        public_url=_public_url((section or {}).get("public_url")),
    )


def _public_url(value: Any) -> str | None:
    """An http(s) URL with a host, without credentials, query or fragment; a bad one is a ConfigError."""
    from urllib.parse import urlsplit

    from skyhop.errors import ConfigError

    if value is None:
        return None
    try:
        parts = urlsplit(value) if isinstance(value, str) else None
        _ = parts.port if parts is not None else None  # a port that is not a number raises here
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password \
            or parts.query or parts.fragment:
        raise ConfigError(f"config.yaml: api_server.public_url must be an http(s) URL such as https://skyhop.example.com, got {value!r}.")
    return value.rstrip("/")
