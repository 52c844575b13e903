"""Host leases: which cluster holds which machine of an existing-machines pool.

Hosts are finite: a cluster takes whole hosts and gives them back on stop and
down. A claim is one write transaction of the state store: on SQLite the
write lock is taken up front (BEGIN IMMEDIATE), on PostgreSQL the rows read
are locked (`FOR UPDATE`) and a free host is claimed by INSERTing its row, so
two server processes racing for the last host conflict on its primary key;
the loser retries against the new state. Either way exactly one wins.

Per cluster the store also keeps an opaque JSON document for the provider
(`holder_data`): what it needs to clean up after a crash or to see that a
holder stopped itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from skyhop.state.models import HostLease, LeaseHolder
from skyhop.state.store import StateStore

R = TypeVar("R")

#: Rounds of a claim that lost a race on PostgreSQL (each sees the winner's rows).
_CLAIM_ATTEMPTS = 5


class HostLeases:
    """The leases of one state store (see the module doc)."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    def _retrying(self, work: Callable[[Session], R]) -> R:
        for attempt in range(_CLAIM_ATTEMPTS):
            try:
                with self._store._write() as session:
                    return work(session)
            except IntegrityError:
                if attempt == _CLAIM_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def acquire(self, cluster: str, candidates: Sequence[str], count: int, prefer: Sequence[str] = ()) -> list[str] | None:
        """Lease `count` of `candidates` to `cluster` (its own first, then `prefer`, then in order); None if too few are free."""

        def claim(session: Session) -> list[str] | None:
            query = select(HostLease).where(HostLease.host.in_(list(candidates))).with_for_update()
            taken = {row.host: row.cluster for row in session.scalars(query)}
            mine = [h for h in candidates if taken.get(h) == cluster]
            free = [h for h in candidates if h not in taken]
            ordered = mine + [h for h in prefer if h in free] + [h for h in free if h not in prefer]
            if len(ordered) < count:
                return None
            chosen = ordered[:count]
            now = time.time()
            session.add_all(HostLease(host=h, cluster=cluster, preempted=False, leased_at=now) for h in chosen if h not in taken)
            session.flush()
            return chosen

        return self._retrying(claim)

    def release(self, cluster: str) -> None:
        """Give back every host of `cluster` (a preempted one becomes usable again) and forget its data."""
        with self._store._write() as session:
            session.execute(delete(HostLease).where(HostLease.cluster == cluster))
            session.execute(delete(LeaseHolder).where(LeaseHolder.cluster == cluster))

    def held_by(self, cluster: str) -> list[str]:
        with self._store._read() as session:
            query = select(HostLease.host).where(HostLease.cluster == cluster).order_by(HostLease.leased_at, HostLease.host)
            return list(session.scalars(query))

    def holders(self, candidates: Sequence[str]) -> dict[str, str]:
        """host -> cluster for those of `candidates` that are held."""
        with self._store._read() as session:
            rows = session.execute(select(HostLease.host, HostLease.cluster).where(HostLease.host.in_(list(candidates))))
            return {host: cluster for host, cluster in rows}

    def mark_preempted(self, cluster: str, host: str) -> None:
        """The host is gone (`skyhop chaos preempt`) until `cluster` releases it."""
        with self._store._write() as session:
            row = session.scalars(select(HostLease).where(HostLease.host == host).with_for_update()).one_or_none()
            if row is None:
                session.add(HostLease(host=host, cluster=cluster, preempted=True, leased_at=time.time()))
            else:
                row.preempted = True

    def is_preempted(self, host: str) -> bool:
        with self._store._read() as session:
            return bool(session.scalars(select(HostLease.preempted).where(HostLease.host == host)).first())

    def holder_data(self, cluster: str) -> dict[str, Any] | None:
        with self._store._read() as session:
            row = session.get(LeaseHolder, cluster)
            return None if row is None else dict(row.data)

    def update_holder_data(self, cluster: str, values: Mapping[str, Any]) -> None:
        """Merge `values` into the cluster's data (created if absent)."""

        def merge(session: Session) -> None:
            row = session.scalars(select(LeaseHolder).where(LeaseHolder.cluster == cluster).with_for_update()).one_or_none()
            if row is None:
                session.add(LeaseHolder(cluster=cluster, data=dict(values)))
            else:
                row.data = {**row.data, **values}

        self._retrying(merge)
