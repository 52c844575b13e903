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
    return Path(value).expanduser().absolute() if value else Path.home() / ".skyhop"


def config_file() -> Path:
    return home() / "config.yaml"


def catalog_cache_dir() -> Path:
    return home() / "catalogs" / "v8"


def parsed_cache_dir() -> Path:
    return home() / "cache"


def private_dir(path: Path) -> Path:
    """Create `path` (and SKYHOP_HOME) readable by the owner only: state, logs and job
    tables can hold secret values."""
    for directory in (home(), path):
        directory.mkdir(parents=True, exist_ok=True)
        require_own(directory)
        if directory.stat().st_mode & 0o077:
            directory.chmod(0o700)
    return path


def require_own(path: Path) -> None:
    """Refuse a skyhop file or directory that another user owns.

    Whoever owns SKYHOP_HOME (or `api/server.json` in it) can read the state and
    request logs, or point the client at a server of theirs that receives every
    request, secrets included. A directory created for us by someone else (a
    world-writable /tmp path) is never adopted, not even by making it 0700.
    """
    import os

    try:
        owner = path.stat().st_uid
    except FileNotFoundError:
        return
    if owner != os.geteuid():
        from skyhop.errors import SkyhopError

        raise SkyhopError(
            f"{path} belongs to another user (uid {owner}); skyhop keeps state and secrets there and will not use it. "
            "Point SKYHOP_HOME at a directory of your own."
        )


def api_dir() -> Path:
    """The local API server's files: server.json (url, pid, token), its log, request logs."""
    return home() / "api"


def server_info_file() -> Path:
    return api_dir() / "server.json"


def remote_file() -> Path:
    """The remote API server this user logged in to (`skyhop api login`): url, token, user; mode 0600."""
    return api_dir() / "remote.json"
