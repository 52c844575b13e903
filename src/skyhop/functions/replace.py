"""A pool's lost nodes replaced by new one-node clusters, while the calls go on on the survivors.

When a node is lost (a spot reclaim, `skyhop chaos preempt`, a dead host) the
calls in flight there are requeued on the other nodes at once (calls.py,
scheduler.py); this module brings the pool back to its size. It launches the
pool's task once more as a one-node cluster `NAME-rK` through the normal launch
path (the optimizer and failover pick where, which may be another region or
cloud), opens a session on it, and hands its worker to the pool's `Fleet` under
the lost node's rank. The replacement's worker is told that rank and the
pool's size (`SKYPILOT_NODE_RANK`, `SKYPILOT_NUM_NODES`); its
`SKYPILOT_NODE_IPS` is its own cluster's. A pool replaces at most `retries`
nodes per node it was launched with; past that it goes on with what it has.
Every cluster it launched is taken down with the pool.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from skyhop.functions.calls import Calls
    from skyhop.functions.fleet import Fleet
    from skyhop.spec.task import Task


class Replacer:
    def __init__(self, *, name: str, task: Task, size: int, fleet: Fleet, calls: Calls, budget: int, idle_minutes: float | None, keep: bool,
                 quiet: bool, env: dict[str, str], slots: int | None, check: Callable[[Any, str], None]) -> None:
        self.name = name
        self.task = task
        self.fleet = fleet
        self.calls = calls
        self.budget = budget
        self.idle_minutes = idle_minutes
        self.keep = keep
        self.quiet = quiet
        self.env = env
        self.slots = slots
        self.check = check
        self.size = size  # the pool's: the replacements' task is one node
        #: The clusters this launched (or was launching when the pool closed): the pool takes them down.
        self.launched: list[str] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._closing = False
        chained = fleet.on_lost

        def lost(rank: int, reason: str) -> None:
            chained(rank, reason)
            self._lost(rank, reason)

        fleet.on_lost = lost

    def _lost(self, rank: int, reason: str) -> None:
        with self._lock:
            if self._closing or len(self.launched) >= self.budget:
                return
            name = f"{self.name}-r{len(self.launched) + 1}"
            self.launched.append(name)
            thread = threading.Thread(target=self._replace, args=(rank, name, reason), name=f"replace-{name}", daemon=True)
            self._threads.append(thread)
        thread.start()

    def _replace(self, rank: int, name: str, reason: str) -> None:
        """Launch `name`, open its session, give its worker `rank`; on failure say so and go on without it."""
        from skyhop.client.api import launch
        from skyhop.functions.session import open_session

        self._say(f"node {rank} of pool {self.name} was lost ({reason}); launching {name} to replace it.")
        try:
            launch(self.task, name, idle_minutes=self.idle_minutes, down=not self.keep, stream=False)
            variables = {**self.env, "SKYPILOT_NODE_RANK": str(rank), "SKYPILOT_NUM_NODES": str(self.size)}
            session = open_session(name, slots=self.slots, env={0: variables})
        except Exception as error:  # noqa: BLE001 - a failed replacement leaves the pool on its survivors, said
            self._say(f"the replacement {name} for node {rank} failed: {error}. The pool goes on with {len(self.calls.workers())} node(s).")
            return
        try:
            self.check(session.workers, name)
        except Exception as error:  # noqa: BLE001
            session.close()
            self._say(f"the replacement {name} for node {rank} cannot take calls: {error}")
            return
        with self._lock:
            closing = self._closing
        if closing:
            session.close()
            return
        self.fleet.add(session, {0: rank})
        self.calls.revive(rank, session.workers[0].host)
        self._say(f"node {rank} of pool {self.name} runs on {name} now.")

    def close(self) -> list[str]:
        """Stop replacing, wait for launches under way; the clusters launched (for the pool to take down)."""
        with self._lock:
            self._closing = True
            threads = list(self._threads)
        for thread in threads:
            thread.join()
        return list(self.launched)

    def _say(self, text: str) -> None:
        if not self.quiet:
            print(f"skyhop: {text}", file=sys.stderr, flush=True)
