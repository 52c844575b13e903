"""The dashboard's cost chart: how long `chart.daily` takes for a history of N cluster events.

    .venv/bin/python benchmarks/dashboard_costs.py                  # 3,000 / 30,000 / 90,000 events, 30 days
    .venv/bin/python benchmarks/dashboard_costs.py --events 30000 --repeat 5

A seeded synthetic history: lifetimes of `--names` reused cluster names launched at random over the
last 40 days, each LAUNCH, STOP after 0-40 h, TERMINATE after 50 h; the chart covers the last 30
days. Compared with the plain definition (the whole history replayed at every day boundary) on the
smaller sizes. In-process, no server; numbers move with the machine's load (benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import time

from skyhop.server.dashboard.chart import billed_until, daily
from skyhop.state.records import LAUNCH, STOP, TERMINATE, ClusterEvent


def history(count: int, names: int, now: float, seed: int = 13) -> list[ClusterEvent]:
    rng = random.Random(seed)
    raw = []
    for lifetime in range(count // 3):
        at = now - rng.uniform(0, 40 * 86400)
        name = f"c{lifetime % names}"
        for kind, after in ((LAUNCH, 0.0), (STOP, rng.uniform(0, 40) * 3600), (TERMINATE, 50 * 3600)):
            raw.append((min(at + after, now), name, kind))
    raw.sort()
    return [ClusterEvent(i, name, kind, at, 1.0, "p", "r", 1, {}) for i, (at, name, kind) in enumerate(raw, 1)]


def plain(events: list[ClusterEvent], now: float, days: int) -> list[float]:
    today = dt.datetime.fromtimestamp(now, dt.timezone.utc).date()
    out = []
    for back in range(days - 1, -1, -1):
        start = dt.datetime.combine(today - dt.timedelta(days=back), dt.time(), dt.timezone.utc).timestamp()
        out.append(billed_until(events, min(start + 86400, now)) - billed_until(events, start))
    return out


def timed(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, nargs="*", default=[3000, 30000, 90000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    now = time.time()
    print("| events | names | daily (median) | plain definition |")
    print("|---:|---:|---:|---:|")
    for count in args.events:
        names = max(1, count // 9)
        events = history(count, names, now)
        ours = timed(lambda: daily(events, now, 30), args.repeat)
        reference = f"{timed(lambda: plain(events, now, 30), 1):.2f} s" if count <= 30000 else "-"
        print(f"| {count:,} | {names:,} | {ours:.3f} s | {reference} |")


if __name__ == "__main__":
    main()
