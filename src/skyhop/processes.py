"""Is a process alive? Shared by the client (its local server) and the local provider.

A killed child of a process that never reaps it stays a zombie: it shows up
to `kill(pid, 0)` but runs nothing, so it counts as gone.
"""

from __future__ import annotations

import os


def is_zombie(pid: int) -> bool:
    """True for a zombie; False when running or when it cannot be told (no /proc)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return False


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not is_zombie(pid)
