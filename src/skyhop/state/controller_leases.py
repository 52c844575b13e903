"""Controller leases: which API server process drives which long-lived object.

Each object a controller drives (a managed job; later a service) has one row in
`controller_leases` from its creation to its end; each server process that
hosts controllers has one row in `controller_owners` with a heartbeat and an
expiry. A lease is held while its owner's row has not expired, so renewing
one row renews every lease of that process (1,000 jobs cost one UPDATE per
tick, not 1,000).

Every change is one atomic conditional UPDATE, so two server processes never
drive the same object, on SQLite and PostgreSQL alike:

- claim: `SET owner = me WHERE (owner IS NULL OR owner is expired OR owner is dead)`,
  one object at a time; the row count says who won;
- renew: `SET expires_at = ... WHERE owner = me AND expires_at >= now`: an owner
  that finds its own row already expired does not renew, it gives up everything
  it drove (another process may have taken it) and starts over;
- finish: `WHERE owner = me`.

"Dead" is what a process on the same host can prove at once: the owner's pid
is gone, or now belongs to a process that started at another time.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, delete, exists, or_, select, update
from sqlalchemy.exc import IntegrityError

from skyhop.state.models import ControllerLease, ControllerOwner, Request
from skyhop.state.records import REQUEST_ACTIVE
from skyhop.state.store import StateStore


@dataclass(frozen=True, slots=True)
class OwnerId:
    """`host:pid:start` of a controller host process."""

    host: str
    pid: int
    start: str

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}:{self.start}"

    @classmethod
    def parse(cls, text: str) -> OwnerId | None:
        host, _, rest = text.rpartition(":")
        host, _, pid = host.rpartition(":")
        return cls(host, int(pid), rest) if pid.isdigit() and host else None

    @classmethod
    def of_this_process(cls) -> OwnerId:
        return cls(socket.gethostname(), os.getpid(), process_start(os.getpid()) or f"{time.time():.6f}")

    def provably_dead(self) -> bool:
        """On this host only: the pid is gone, or is another process than the one that took the lease."""
        if self.host != socket.gethostname():
            return False
        started = process_start(self.pid)
        if started is None:
            from skyhop_agent.proctree import pid_alive

            return not pid_alive(self.pid) if not os.path.isdir("/proc") else True
        return started != self.start


def process_start(pid: int) -> str | None:
    """The kernel's start time of `pid` (clock ticks since boot, /proc/PID/stat field 22); None if unknown or gone,
    a zombie included (killed, not yet reaped by its parent: it drives nothing any more)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode(errors="replace")
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: fields after the last ')' are fixed.
    fields = data.rpartition(")")[2].split()
    if not fields or fields[0] in ("Z", "X"):
        return None
    return fields[19] if len(fields) > 19 else None


class ControllerLeases:
    """The leases of one state store and one owner (see the module doc)."""

    def __init__(self, store: StateStore, owner: OwnerId | None = None) -> None:
        self._store = store
        self.owner = owner or OwnerId.of_this_process()
        self._me = str(self.owner)

    # --- the owner's row ----------------------------------------------------------

    def heartbeat(self, ttl_s: float) -> bool:
        """Renew this owner's row (all its leases with it); False when it had already expired (or was absent)."""
        now = time.time()
        with self._store._write() as session:
            renewed = _rows(session.execute(
                update(ControllerOwner)
                .where(ControllerOwner.owner == self._me, ControllerOwner.expires_at >= now)
                .values(heartbeat_at=now, expires_at=now + ttl_s)
            ))
        return bool(renewed)

    def rejoin(self, ttl_s: float, kind: str | None = None) -> None:
        """Start (over) as an owner: a live row, and none of the leases it held before (of `kind`, or of every
        kind), which are free again.

        Several controllers of one process (one per kind) share the owner row,
        so the row is renewed or created, never deleted and re-added: one
        kind's (re)join must not drop another kind's leases or race it on the row.
        """
        now = time.time()
        released = update(ControllerLease).where(ControllerLease.owner == self._me)
        if kind is not None:
            released = released.where(ControllerLease.kind == kind)
        for attempt in range(2):  # another controller of this process created the row concurrently: renew it
            try:
                with self._store._write() as session:
                    session.execute(released.values(owner=None, claimed_at=None))
                    renewed = _rows(session.execute(
                        update(ControllerOwner).where(ControllerOwner.owner == self._me).values(heartbeat_at=now, expires_at=now + ttl_s)
                    ))
                    if not renewed:
                        session.add(ControllerOwner(
                            owner=self._me, host=self.owner.host, pid=self.owner.pid, started_at=now, heartbeat_at=now, expires_at=now + ttl_s,
                        ))
                return
            except IntegrityError:
                if attempt:
                    raise

    def leave(self) -> None:
        """A clean stop: give every lease back and remove the owner's row, so another process takes over at once.

        The row stays while this process still owns active API requests (the
        row is what tells siblings they are in hands: server/services/adoption.py);
        a draining server releases them, then leaves again.
        """
        held = select(Request.request_id).where(Request.server_owner == self._me, Request.status.in_(REQUEST_ACTIVE))
        with self._store._write() as session:
            session.execute(update(ControllerLease).where(ControllerLease.owner == self._me).values(owner=None, claimed_at=None))
            session.execute(delete(ControllerOwner).where(ControllerOwner.owner == self._me, ~exists(held)))

    # --- objects ----------------------------------------------------------------

    def register(self, kind: str, object_id: str) -> None:
        """A new object: a lease row nobody holds yet (idempotent)."""
        try:
            with self._store._write() as session:
                if session.get(ControllerLease, (kind, object_id)) is None:
                    session.add(ControllerLease(kind=kind, object_id=object_id, owner=None, cancel_requested=False, claimed_at=None))
        except IntegrityError:  # PostgreSQL: registered concurrently
            pass

    def claimable(self, kind: str, limit: int = 200) -> list[str]:
        """Objects of `kind` nobody validly holds: no owner, an expired owner, or an owner provably dead."""
        now = time.time()
        with self._store._read() as session:
            live = select(ControllerOwner.owner).where(ControllerOwner.expires_at >= now)
            owners = set(session.scalars(select(ControllerLease.owner).where(ControllerLease.kind == kind).distinct()))
            dead = self._dead(owners)
            query = (
                select(ControllerLease.object_id)
                .where(
                    ControllerLease.kind == kind,
                    or_(ControllerLease.owner.is_(None), ControllerLease.owner.not_in(live), ControllerLease.owner.in_(dead)),
                )
                .limit(limit)
            )
            return list(session.scalars(query))

    def _dead(self, owners: Iterable[str | None]) -> list[str]:
        out = []
        for text in owners:
            if text is None or text == self._me:
                continue
            parsed = OwnerId.parse(text)
            if parsed is not None and parsed.provably_dead():
                out.append(text)
        return out

    def claim(self, kind: str, object_id: str) -> bool:
        """Take the object if nobody validly holds it; True if this owner holds it now."""
        now = time.time()
        with self._store._read() as session:
            current = session.scalars(
                select(ControllerLease.owner).where(ControllerLease.kind == kind, ControllerLease.object_id == object_id)
            ).first()
        dead = self._dead([current])
        live = select(ControllerOwner.owner).where(ControllerOwner.expires_at >= now)
        with self._store._write() as session:
            won = _rows(session.execute(
                update(ControllerLease)
                .where(
                    ControllerLease.kind == kind,
                    ControllerLease.object_id == object_id,
                    or_(
                        ControllerLease.owner.is_(None),
                        ControllerLease.owner == self._me,
                        ControllerLease.owner.not_in(live),
                        ControllerLease.owner.in_(dead),
                    ),
                )
                .values(owner=self._me, claimed_at=now)
                .execution_options(synchronize_session=False)
            ))
        return bool(won)

    def held(self, kind: str) -> dict[str, bool]:
        """The objects of `kind` this owner holds now -> whether someone asked to cancel each.

        One that another process took (after this owner's row expired) is not among them.
        """
        with self._store._read() as session:
            query = select(ControllerLease.object_id, ControllerLease.cancel_requested).where(
                ControllerLease.kind == kind, ControllerLease.owner == self._me
            )
            return {object_id: bool(flag) for object_id, flag in session.execute(query)}

    def cancel_requested(self, kind: str, object_id: str) -> bool:
        """Whether someone asked to cancel the object (read now, not at the owner's last tick)."""
        with self._store._read() as session:
            query = select(ControllerLease.cancel_requested).where(ControllerLease.kind == kind, ControllerLease.object_id == object_id)
            return bool(session.scalar(query))

    def request_cancel(self, kind: str, object_id: str) -> bool:
        """Any process may ask; the owner acts on its next tick. False when the object has no lease (it ended)."""
        with self._store._write() as session:
            changed = _rows(session.execute(
                update(ControllerLease)
                .where(ControllerLease.kind == kind, ControllerLease.object_id == object_id)
                .values(cancel_requested=True)
            ))
        return bool(changed)

    def finish(self, kind: str, object_id: str) -> None:
        """The object reached its end: its lease row goes (only by its owner)."""
        with self._store._write() as session:
            session.execute(
                delete(ControllerLease).where(
                    ControllerLease.kind == kind, ControllerLease.object_id == object_id, ControllerLease.owner == self._me
                )
            )


def live_owners(store: StateStore) -> set[str]:
    """The owners whose row has not expired: the server processes that still answer for what they hold."""
    with store._read() as session:
        return set(session.scalars(select(ControllerOwner.owner).where(ControllerOwner.expires_at >= time.time())))


def _rows(result: Any) -> int:
    """The row count of an UPDATE (SQLAlchemy types `execute` as a plain Result)."""
    return cast(CursorResult, result).rowcount
