"""Where skyhop keeps its files, from the environment.

Read on every call rather than at import so tests (and users) can point
`SKYHOP_HOME` elsewhere within one process.
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """`SKYHOP_HOME`, default `~/.skyhop`."""
    value = os.environ.get("SKYHOP_HOME")
    return Path(value).expanduser() if value else Path.home() / ".skyhop"


def config_file() -> Path:
    return home() / "config.yaml"


def catalog_cache_dir() -> Path:
    return home() / "catalogs" / "v8"


def parsed_cache_dir() -> Path:
    return home() / "cache"


def api_dir() -> Path:
    """The local API server's files: server.json (url, pid, token), its log, request logs."""
    return home() / "api"


def server_info_file() -> Path:
    return api_dir() / "server.json"
