"""Pools of existing machines managed through the API (`skyhop ssh add|rm`).

Each pool is a JSON spec in the shape its provider validates (for SSH, the
shape of a pool under `ssh_node_pools` in config.yaml); the store keeps it
opaque. An edit is a read-modify-write in one transaction (row locked on
PostgreSQL, write lock on SQLite), so concurrent `ssh add`s to one pool both land.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from skyhop.state.models import HostPool
from skyhop.state.store import StateStore

Spec = dict[str, Any]


class HostPools:
    def __init__(self, store: StateStore) -> None:
        self._store = store

    def specs(self, provider: str) -> dict[str, Spec]:
        """name -> spec of `provider`'s pools, by name."""
        with self._store._read() as session:
            rows = session.scalars(select(HostPool).where(HostPool.provider == provider).order_by(HostPool.name))
            return {row.name: dict(row.spec) for row in rows}

    def edit(self, provider: str, name: str, change: Callable[[Spec | None], Spec | None]) -> Spec | None:
        """Replace the pool's spec by `change(current)` (None: no pool; returning None deletes it).

        `change` may raise to refuse the edit; nothing is written then.
        """
        for attempt in range(2):  # a concurrent creation of the same pool: retry once on its row
            try:
                with self._store._write() as session:
                    query = select(HostPool).where(HostPool.provider == provider, HostPool.name == name).with_for_update()
                    row = session.scalars(query).one_or_none()
                    new = change(None if row is None else dict(row.spec))
                    if new is None:
                        if row is not None:
                            session.delete(row)
                    elif row is None:
                        session.add(HostPool(provider=provider, name=name, spec=new, updated_at=time.time()))
                    else:
                        row.spec, row.updated_at = new, time.time()
                    return new
            except IntegrityError:
                if attempt:
                    raise
        raise AssertionError("unreachable")
