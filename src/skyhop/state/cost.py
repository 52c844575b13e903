"""Cost reports, computed from cluster history alone.

The `cluster_events` table is the ground truth: cluster rows disappear on
`down`, events do not. Each LAUNCH opens a *lifetime* of the cluster name,
which ends with its TERMINATE; within it, billed intervals run from LAUNCH or
START to the next STOP or TERMINATE (or to `now` while the cluster is still
up). Each interval is charged at the hourly price recorded on the event that
opened it, so a price change at START (e.g. a restarted spot cluster) is
costed correctly.

A name launched again after being terminated gets **one line per lifetime**,
not one summed line: the lifetimes may differ in cloud, region and
resources, and a user asking "what did this cost" wants to see each launch.

Stdlib only: the computation is pure, so it is unit-tested without a database
and can run on any list of events (e.g. the API server's cache).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from skyhop.state.records import (
    LAUNCH,
    START,
    STOP,
    STOPPED,
    TERMINATE,
    TERMINATED,
    UP,
    ClusterEvent,
    CostLine,
)


@dataclass(slots=True)
class _Lifetime:
    """Mutable running total of one lifetime while the events are replayed."""

    cluster: str
    launched_at: float
    provider: str = ""
    region: str = ""
    resources: dict[str, Any] | None = None
    num_nodes: int = 1
    user: str | None = None
    hourly_price: float = 0.0
    status: str = UP
    billed_since: float | None = None
    billed_price: float = 0.0
    duration_s: float = 0.0
    cost: float = 0.0
    ended_at: float | None = None

    def describe(self, event: ClusterEvent) -> None:
        """Keep the latest description seen in the lifetime."""
        self.provider = event.provider
        self.region = event.region
        self.resources = event.resources
        self.num_nodes = event.num_nodes
        self.user = event.user
        self.hourly_price = event.hourly_price

    def bill_from(self, at: float, price: float) -> None:
        if self.billed_since is None:
            self.billed_since = at
            self.billed_price = price
        self.status = UP

    def bill_until(self, at: float) -> None:
        if self.billed_since is not None:
            seconds = max(0.0, at - self.billed_since)
            self.duration_s += seconds
            self.cost += seconds / 3600.0 * self.billed_price
            self.billed_since = None

    def line(self) -> CostLine:
        return CostLine(
            cluster=self.cluster,
            provider=self.provider,
            region=self.region,
            resources=dict(self.resources or {}),
            num_nodes=self.num_nodes,
            status=self.status,
            launched_at=self.launched_at,
            duration_s=self.duration_s,
            hourly_price=self.hourly_price,
            cost=self.cost,
            user=self.user,
            ended_at=self.ended_at,
        )


def cost_lines(events: Iterable[ClusterEvent], now: float) -> list[CostLine]:
    """Replay `events` (in insertion order, i.e. by id) into one line per lifetime.

    Tolerant of odd histories rather than failing the whole report: a LAUNCH
    while a lifetime is open closes that lifetime first; a START with no open
    lifetime opens one; a STOP or TERMINATE with nothing open is ignored.
    Lines come sorted by launch time, then name.
    """
    open_lifetimes: dict[str, _Lifetime] = {}
    done: list[_Lifetime] = []

    def close(lifetime: _Lifetime, at: float) -> None:
        lifetime.bill_until(at)
        lifetime.status = TERMINATED
        lifetime.ended_at = at
        done.append(lifetime)
        del open_lifetimes[lifetime.cluster]

    for event in events:
        lifetime = open_lifetimes.get(event.cluster)
        if event.event == LAUNCH or (event.event == START and lifetime is None):
            if lifetime is not None:
                close(lifetime, event.at)
            lifetime = open_lifetimes[event.cluster] = _Lifetime(event.cluster, event.at)
            lifetime.describe(event)
            lifetime.bill_from(event.at, event.hourly_price)
        elif lifetime is None:
            continue
        elif event.event == START:
            lifetime.describe(event)
            lifetime.bill_from(event.at, event.hourly_price)
        elif event.event == STOP:
            lifetime.describe(event)
            lifetime.bill_until(event.at)
            lifetime.status = STOPPED
        elif event.event == TERMINATE:
            lifetime.describe(event)
            close(lifetime, event.at)

    for lifetime in open_lifetimes.values():
        lifetime.bill_until(now)
        done.append(lifetime)
    return [lifetime.line() for lifetime in sorted(done, key=lambda lt: (lt.launched_at, lt.cluster))]
