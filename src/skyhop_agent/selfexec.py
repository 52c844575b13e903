"""Starting detached copies of the agent itself (the daemon, job drivers).

The agent is copied to nodes rather than installed, so a child finds the
package through PYTHONPATH pointing at wherever this copy lives, and runs on
the same interpreter as its parent, with `-S`: the agent needs the standard
library alone, so site-packages and their .pth files (a fifth of a driver's
start-up) are skipped, as the broker does for its own agent calls.
"""

from __future__ import annotations

import os
import sys

from skyhop_agent.paths import Layout

TYPE_CHECKING = False  # typing's constant without importing typing (see cli.py)
if TYPE_CHECKING:
    import subprocess

AGENT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def spawn(layout: Layout, args: list[str], log_path: str) -> subprocess.Popen:
    """Start `python -S -m skyhop_agent --base BASE ARGS...` in its own session.

    Its own session means it outlives the caller (a CLI call over ssh, a
    finished driver) and that its process group is its own to kill.
    """
    import subprocess  # here: `health` imports this module (through daemonctl) and spawns nothing

    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([AGENT_ROOT] + [p for p in paths if p != AGENT_ROOT]))
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-S", "-m", "skyhop_agent", "--base", layout.base] + args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd=layout.base,
            env=env,
            start_new_session=True,
        )
