"""The errors of function calls on a pool (`skyhop.function`, `skyhop.Pool`)."""

from __future__ import annotations

from skyhop.errors import SkyhopError


class NodeLost(SkyhopError):
    """A node's worker is gone (the node was preempted or lost, its worker died, or the connection to the
    cluster ended): calls on it cannot be sent, and calls in flight there get no answer."""

    def __init__(self, rank: int, host: str | None, reason: str) -> None:
        super().__init__(f"Node {rank}{f' ({host})' if host else ''} of the pool is lost: {reason}.")
        self.rank = rank
        self.host = host
        self.reason = reason
