"""Who this process acts for: a module of its own, so the CLI can ask without loading execution."""

from __future__ import annotations

import getpass


def current_user() -> str:
    """The login name of this process's user ("unknown" when the system has none for its uid)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
