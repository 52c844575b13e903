"""A pool's sessions as one: its first cluster's and those of the clusters that replace lost nodes.

A cluster that lost a node cannot be repaired in place (a partial cluster's
launch is refused; in-place node replacement would be provider work), so a pool
replaces a lost node with a new one-node cluster and opens a session there too.
The calls layer (`Calls`, the map scheduler) sees one session with the pool's
ranks: the replacement's worker takes the lost node's rank, so `SKYPILOT_NODE_RANK`
and `node=` keep their meaning. Frames of a member session are re-stamped with
the pool's rank on the way in; sends are routed to the member that has the rank.
Call ids come from here, so they are unique across the members.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from typing import TYPE_CHECKING, Any

from skyhop.functions.errors import NodeLost
from skyhop_agent import fnwire

if TYPE_CHECKING:
    from collections.abc import Callable

    from skyhop.functions.calls import Session


class Fleet:
    """The `Session` interface over several sessions (see the module docstring)."""

    def __init__(self, first: Session) -> None:
        self.cluster = first.cluster
        self.on_output: Callable[[int, int, bytes], None] = lambda rank, stream, data: None
        self.on_lost: Callable[[int, str], None] = lambda rank, reason: None
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._members: list[tuple[Session, dict[int, int]]] = []
        self._route: dict[int, tuple[Session, int]] = {}
        self._handlers: dict[int, Callable[[fnwire.Frame], None]] = {}
        self.add(first, {worker.rank: worker.rank for worker in first.workers})

    def add(self, session: Session, ranks: dict[int, int]) -> None:
        """Take `session`'s workers in as the pool's ranks `ranks` (the session's rank -> the pool's)."""

        def output(rank: int, stream: int, data: bytes) -> None:
            self.on_output(ranks.get(rank, rank), stream, data)

        def lost(rank: int, reason: str) -> None:
            pool_rank = ranks.get(rank, rank)
            with self._lock:
                owner = self._route.get(pool_rank)
                if owner is None or owner[0] is not session:
                    return  # a rank already taken over by a replacement
            self.on_lost(pool_rank, reason)

        session.on_output = output
        session.on_lost = lost
        with self._lock:
            self._members.append((session, ranks))
            for local, pool_rank in ranks.items():
                self._route[pool_rank] = (session, local)
            handlers = list(self._handlers.items())
        for call_id, handler in handlers:
            session.register(call_id, self._restamp(handler, ranks))

    @property
    def workers(self) -> tuple[Any, ...]:
        """The live workers of every member, with the pool's ranks, in rank order."""
        with self._lock:
            members = list(self._members)
            route = dict(self._route)
        found = []
        for session, ranks in members:
            for worker in session.workers:
                pool_rank = ranks.get(worker.rank)
                if pool_rank is not None and route.get(pool_rank, (None, None))[0] is session:
                    found.append(dataclasses.replace(worker, rank=pool_rank))
        return tuple(sorted(found, key=lambda worker: worker.rank))

    @property
    def sessions(self) -> list[Session]:
        with self._lock:
            return [session for session, _ in self._members]

    def next_call_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def send(self, kind: int, rank: int, call_id: int, payload: bytes = b"") -> None:
        with self._lock:
            found = self._route.get(rank)
        if found is None:
            raise NodeLost(rank, "?", "the pool has no such node")
        session, local = found
        session.send(kind, local, call_id, payload)

    def register(self, call_id: int, handler: Callable[[fnwire.Frame], None]) -> None:
        with self._lock:
            self._handlers[call_id] = handler
            members = list(self._members)
        for session, ranks in members:
            session.register(call_id, self._restamp(handler, ranks))

    def unregister(self, call_id: int) -> None:
        with self._lock:
            self._handlers.pop(call_id, None)
            members = list(self._members)
        for session, _ in members:
            session.unregister(call_id)

    def close(self) -> None:
        for session in self.sessions:
            session.close()

    @staticmethod
    def _restamp(handler: Callable[[fnwire.Frame], None], ranks: dict[int, int]) -> Callable[[fnwire.Frame], None]:
        def restamped(frame: fnwire.Frame) -> None:
            handler(fnwire.Frame(frame.kind, ranks.get(frame.rank, frame.rank), frame.call_id, frame.payload))

        return restamped
