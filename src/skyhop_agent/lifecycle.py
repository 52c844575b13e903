"""What stopping and taking down a cluster mean on its head node (local provider).

A stopped cluster keeps its job table (ids continue after a restart) but runs
nothing; the `stopped` marker tells `health` and `submit` so until
`daemon-start` clears it.
"""

from __future__ import annotations

import shutil
import time

from skyhop_agent import cancel
from skyhop_agent.paths import Layout, write_json_atomically

TYPE_CHECKING = False  # typing's constant without importing typing (see cli.py)
if TYPE_CHECKING:
    import sqlite3

    from skyhop_agent.config import Cluster


def halt(layout: Layout, cluster: Cluster, conn: sqlite3.Connection, reason: str) -> list[int]:
    """Mark the cluster stopped, then cancel every job; returns the ids cancelled.

    The marker comes first so that no new job can slip in behind the cancel.
    """
    write_json_atomically(layout.stopped, {"reason": reason, "at": time.time()})
    return cancel.cancel_all(layout, cluster, conn, reason=f"cluster stopped ({reason})")


def remove_dirs(cluster: Cluster) -> list[str]:
    """Delete the directories that make up the cluster (`remove_on_down`); returns them."""
    for path in cluster.remove_on_down:
        shutil.rmtree(path, ignore_errors=True)
    return cluster.remove_on_down
