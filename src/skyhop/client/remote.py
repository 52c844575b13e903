"""The remote API server the user logged in to: `SKYHOP_HOME/api/remote.json` (url, token, user).

Written by `skyhop api login` (0600, in the 0700 api directory) and read by
`server_process.endpoint()` after the environment and before the local server.
The token in it is a user's credential: a file owned by someone else, or
readable by others, is refused rather than used or trusted.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from skyhop import paths
from skyhop.errors import SkyhopError


@dataclass(frozen=True)
class Login:
    url: str
    token: str
    user: str


def read() -> Login | None:
    """The stored login, or None when there is none."""
    path = paths.remote_file()
    for owned in (paths.home(), paths.api_dir(), path):
        paths.require_own(owned)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    if mode & 0o077:
        raise SkyhopError(f"{path} holds an API token but other users may read it (mode {mode & 0o777:o}); "
                          f"run `skyhop api logout` and log in again, or `chmod 600 {path}`.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Login(str(data["url"]), str(data["token"]), str(data["user"]))
    except (OSError, ValueError, KeyError, TypeError):
        raise SkyhopError(f"{path} is not a login skyhop wrote; run `skyhop api logout`, then `skyhop api login URL`.") from None


def write(login: Login) -> None:
    """Store the login atomically, private from the first byte (never a moment world-readable)."""
    path = paths.remote_file()
    paths.private_dir(path.parent)
    tmp = path.with_name(f".remote.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"url": login.url, "token": login.token, "user": login.user}, f)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def remove() -> Login | None:
    """Forget the login; the one removed (None if there was none)."""
    try:
        login = read()
    except SkyhopError:
        login = None
    paths.remote_file().unlink(missing_ok=True)
    return login
