"""Whether an API server and this client can talk, from the server's health answer (no extra round trip).

The local server is ours to replace (client/server_process.py does, when
nothing runs in it); a remote one is only described: which side to upgrade,
and how. See server/api_version.py for what the numbers mean.
"""

from __future__ import annotations

from typing import Any

from skyhop import __version__
from skyhop.server import api_version


def server_api(health: dict[str, Any]) -> int:
    """The API the server speaks; a server older than the versioning sends none and counts as 0."""
    return api_version.parse(health.get("api_version")) or 0


def _release(text: object) -> tuple[int, ...] | None:
    """`0.4.1` -> (0, 4, 1); None for anything else (a local build's `0.4.1+dev` compares by its release part)."""
    head = str(text).split("+", 1)[0]
    parts = head.split(".")
    return tuple(int(p) for p in parts) if all(p.isdigit() and len(p) <= 6 for p in parts) and parts != [""] else None


def older_than_client(health: dict[str, Any]) -> bool:
    """The server is older than this client: a lower API, or the same API from an older skyhop release.

    Only an older local server is replaced: with two installs of different versions sharing one
    SKYHOP_HOME, replacing a newer one too would make them replace each other at every command.
    """
    server = server_api(health)
    if server != api_version.API_VERSION:
        return server < api_version.API_VERSION
    theirs, ours = _release(health.get("version")), _release(__version__)
    return theirs is not None and ours is not None and theirs < ours


def problem(url: str, health: dict[str, Any], *, local: bool) -> str | None:
    """One paragraph saying which side to upgrade, or None when the server and this client can talk."""
    server = server_api(health)
    if server < api_version.MIN_SERVER_API_VERSION:
        how = (
            "pip install -U skyhop / skyhop api stop; the next command starts the new one" if local
            else "pip install -U skyhop where it runs, then restart it"
        )
        return f"The API server at {url} speaks API {server}; this client needs >= {api_version.MIN_SERVER_API_VERSION}: upgrade the server ({how})."
    needed = api_version.parse(health.get("min_client_api_version")) or 0
    if api_version.API_VERSION < needed:
        release = str(health.get("version") or "")[:40]
        return (
            f"The API server at {url} (skyhop {release}) needs a client of API >= {needed}; this client (skyhop {__version__}) "
            f"speaks API {api_version.API_VERSION}: upgrade the client (pip install -U 'skyhop>={release}')."
        )
    return None
