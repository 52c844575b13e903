"""Find and end every process that carries `NAME=VALUE` in its environment.

skyhop marks what it starts for a cluster on a node with an environment
variable (the local provider's cluster marker, `SKYHOP_NODE_BASE` everywhere);
children inherit it, including ones that detach into their own session, so
ending a cluster on a node is: signal every process carrying the marker.

Standard library only and runnable as a script, so the broker can run this
very file on a host where the agent is not installed:

    python3 - NAME VALUE < marked.py
"""

from __future__ import annotations

import os
import signal
import sys
import time


def marked_pids(name: str, value: str) -> list[int]:
    """Live processes carrying `name=value` (Linux /proc; zombies have no readable environment)."""
    needle = f"{name}={value}".encode()
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:
            pass
    return found


def end_marked(name: str, value: str, grace: float = 3.0) -> list[int]:
    """SIGTERM every marked process, then SIGKILL what is left after `grace` seconds; returns the first set."""
    first = marked_pids(name, value)
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 1.0)):
        pids = marked_pids(name, value)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + wait
        pause = 0.005  # most exit within milliseconds of SIGTERM: look again soon, then every 50 ms
        while pids and time.monotonic() < deadline:
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
            pids = marked_pids(name, value)
    return first


if __name__ == "__main__":
    end_marked(sys.argv[1], sys.argv[2])
