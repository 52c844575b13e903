"""The server's token pepper: the key of the HMAC under which API tokens are stored.

A dump of the database alone (a backup, a replica) then does not let anyone
test token guesses offline: the hashes are keyed by 32 bytes that live
outside it, in `SKYHOP_TOKEN_PEPPER` (every process of a team server on
several hosts must share the value) or in `SKYHOP_HOME/api/token_pepper`
(0600, created on first use). Creation is safe across processes: the bytes
are written to a private temporary file, then linked to the final name,
which fails when another process got there first (its pepper is then read).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from skyhop import paths
from skyhop.state.errors import StateError

ENV = "SKYHOP_TOKEN_PEPPER"
SIZE = 32


def pepper_file() -> Path:
    return paths.api_dir() / "token_pepper"


def load() -> bytes:
    """The pepper: `SKYHOP_TOKEN_PEPPER` (at least 32 characters, used as its UTF-8 bytes), else the file (made now if absent)."""
    configured = os.environ.get(ENV)
    if configured is not None:
        if len(configured) < SIZE:
            raise StateError(f"{ENV} must hold at least {SIZE} characters (e.g. the output of `openssl rand -hex 32`); it holds {len(configured)}.")
        return configured.encode()
    path = pepper_file()
    paths.private_dir(path.parent)
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(SIZE))
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # atomic, and refuses to replace another process's pepper
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)
    return _read(path)


def _read(path: Path) -> bytes:
    paths.require_own(path)
    if path.stat().st_mode & 0o077:
        raise StateError(f"{path} is readable by other users (mode {path.stat().st_mode & 0o777:o}); it keys every API token's hash. "
                         f"Make it private (chmod 600 {path}) or remove it, which makes every token invalid.")
    data = path.read_bytes()
    if len(data) != SIZE:
        raise StateError(f"{path} holds {len(data)} bytes, not the {SIZE} of a token pepper; remove it (every token becomes invalid) or restore it.")
    return data
