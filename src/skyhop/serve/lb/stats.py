"""The LB's counters, and the two ways they leave the process: `DIR/lb-stats.json` and Prometheus text.

Why both: the controller needs arrivals per second (the autoscaler's QPS) and per-replica in-flight
counts (it drains a replica until 0) from a file it can read without talking to the LB, while an
operator's Prometheus wants the usual counters and a latency histogram. Counting costs a few integer
additions per request; the file is written once a second, never per request.
"""

from __future__ import annotations

import bisect
import json
import os
import time
from collections import deque
from pathlib import Path

from skyhop.serve.files import write_atomically
from skyhop.serve.lb.ledger import Ledger

STATS_FILE = "lb-stats.json"
RECENT_SECONDS = 120
# Upper bounds in seconds; LLM streams last seconds to minutes, a plain request well under 10 ms.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class Stats:
    """Counters the proxy bumps; `snapshot` and `prometheus` read them together with the ledger's in-flight counts."""

    def __init__(self) -> None:
        self.requests_total = 0
        self.retries = 0
        self.failed = 0
        self.waiting = 0
        self.rejected = 0  # bad requests answered by the LB (4xx), never routed
        self.recent: deque[list[int]] = deque()
        self.per_replica_requests: dict[int, int] = {}
        self.per_replica_failures: dict[int, int] = {}
        self.latency_counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_sum = 0.0

    def arrived(self, now: float) -> None:
        """One routable request arrived (counted once, whatever its retries)."""
        self.requests_total += 1
        second = int(now)
        if self.recent and self.recent[-1][0] == second:
            self.recent[-1][1] += 1
        else:
            self.recent.append([second, 1])
            while self.recent[0][0] <= second - RECENT_SECONDS:
                self.recent.popleft()

    def attempted(self, replica_id: int) -> None:
        self.per_replica_requests[replica_id] = self.per_replica_requests.get(replica_id, 0) + 1

    def replica_failed(self, replica_id: int) -> None:
        self.per_replica_failures[replica_id] = self.per_replica_failures.get(replica_id, 0) + 1

    def finished(self, seconds: float) -> None:
        """A request's whole time in the LB, from its last byte in to its last byte out."""
        self.latency_counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.latency_sum += seconds

    def snapshot(self, ledger: Ledger, now: float) -> dict[str, object]:
        """The lb-stats.json document (the controller's contract)."""
        horizon = int(now) - RECENT_SECONDS
        return {
            "pid": os.getpid(),
            "time": now,
            "requests_total": self.requests_total,
            "recent": [[second, count] for second, count in self.recent if second > horizon],
            "waiting": self.waiting,
            "in_flight": {str(replica_id): count for replica_id, count in sorted(ledger.in_flight().items())},
            "retries": self.retries,
            "failed": self.failed,
        }

    def prometheus(self, ledger: Ledger) -> str:
        """Prometheus text exposition (format 0.0.4) of the counters, the histogram and in-flight per replica."""
        lines = [
            "# HELP skyhop_lb_requests_total Requests routed to replicas (a retried request counts once).",
            "# TYPE skyhop_lb_requests_total counter",
            f"skyhop_lb_requests_total {self.requests_total}",
            "# HELP skyhop_lb_retries_total Attempts re-sent to another replica after one failed before answering.",
            "# TYPE skyhop_lb_retries_total counter",
            f"skyhop_lb_retries_total {self.retries}",
            "# HELP skyhop_lb_failed_total Requests the LB could not complete (502/503 or a broken stream).",
            "# TYPE skyhop_lb_failed_total counter",
            f"skyhop_lb_failed_total {self.failed}",
            "# HELP skyhop_lb_rejected_total Malformed or oversized requests refused by the LB (4xx).",
            "# TYPE skyhop_lb_rejected_total counter",
            f"skyhop_lb_rejected_total {self.rejected}",
            "# HELP skyhop_lb_waiting Requests held because no replica is ready.",
            "# TYPE skyhop_lb_waiting gauge",
            f"skyhop_lb_waiting {self.waiting}",
            "# HELP skyhop_lb_in_flight Requests open on each replica.",
            "# TYPE skyhop_lb_in_flight gauge",
        ]
        lines += [f'skyhop_lb_in_flight{{replica="{rid}"}} {count}' for rid, count in sorted(ledger.in_flight().items())]
        lines += ["# HELP skyhop_lb_replica_requests_total Attempts sent to each replica.", "# TYPE skyhop_lb_replica_requests_total counter"]
        lines += [f'skyhop_lb_replica_requests_total{{replica="{rid}"}} {n}' for rid, n in sorted(self.per_replica_requests.items())]
        lines += ["# HELP skyhop_lb_replica_failures_total Attempts that failed on each replica.", "# TYPE skyhop_lb_replica_failures_total counter"]
        lines += [f'skyhop_lb_replica_failures_total{{replica="{rid}"}} {n}' for rid, n in sorted(self.per_replica_failures.items())]
        lines += ["# HELP skyhop_lb_request_seconds Time from a request's last byte in to its response's last byte out.", "# TYPE skyhop_lb_request_seconds histogram"]
        cumulative = 0
        for bound, count in zip((*(repr(b) for b in LATENCY_BUCKETS), "+Inf"), self.latency_counts):
            cumulative += count
            lines.append(f'skyhop_lb_request_seconds_bucket{{le="{bound}"}} {cumulative}')
        lines += [f"skyhop_lb_request_seconds_sum {self.latency_sum!r}", f"skyhop_lb_request_seconds_count {cumulative}"]
        return "\n".join(lines) + "\n"


def write_stats(directory: Path, stats: Stats, ledger: Ledger) -> None:
    write_atomically(directory / STATS_FILE, json.dumps(stats.snapshot(ledger, time.time())).encode())
