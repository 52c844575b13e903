"""What a budget's spend costs: the door's question (`check_budget`) and the enforcer's (`Budgets.spent`).

    .venv/bin/python benchmarks/budget_spend.py                  # 1,000 cluster lifetimes this month, 4,000 events
    .venv/bin/python benchmarks/budget_spend.py --clusters 200

A fresh SQLite state database in a temporary SKYHOP_HOME holds `--clusters` lifetimes of this
month (LAUNCH, STOP, START, TERMINATE each), half of them user alice's, all in the default
workspace; a budget for alice and one for the workspace. Each figure is the mean of repeated
calls. The spend is recomputed from the events on every fresh call (never stored), so it grows
with the subject's history; the door memoizes it per process (`budgets.memo_seconds`).

Nothing here is a unit test: numbers move with the machine's load (benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=1000)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="budget-bench-")
    os.environ["SKYHOP_HOME"] = home

    from skyhop.server.auth.principal import Principal, Role
    from skyhop.server.services import budgets as service
    from skyhop.state.budgets import Budgets
    from skyhop.state.cost import month_bounds, month_name
    from skyhop.state.records import ClusterRecord
    from skyhop.state.store import StateStore

    store = StateStore(f"sqlite:///{home}/state.db")
    start = month_bounds(month_name(time.time()))[0]
    for i in range(args.clusters):
        name, at = f"c{i}", start + i * 60
        store.add_cluster(ClusterRecord(name=name, provider="local", region="r", hourly_price=1.0, user="alice" if i % 2 else "bob"))
        store.set_cluster_status(name, "UP", at=at, hourly_price=1.0)
        store.set_cluster_status(name, "STOPPED", at=at + 30)
        store.set_cluster_status(name, "UP", at=at + 40, hourly_price=1.0)
        store.remove_cluster(name, at=at + 50)
    alice, _ = Budgets(store).set("user", "alice", 100.0)
    default, _ = Budgets(store).set("workspace", "default", 100.0)
    month = month_name(time.time())
    print(f"{len(store.list_events())} events")

    def mean_ms(work, repeat: int) -> float:
        began = time.perf_counter()
        for _ in range(repeat):
            work()
        return (time.perf_counter() - began) / repeat * 1000

    print(f"spent(), user alice:            {mean_ms(lambda: Budgets(store).spent(alice, month), 20):8.1f} ms")
    print(f"spent(), workspace default:     {mean_ms(lambda: Budgets(store).spent(default, month), 20):8.1f} ms")
    caller = Principal("alice", Role.USER)
    service.forget_memo()
    print(f"notices():                      {mean_ms(lambda: service.notices(store, caller), 50):8.2f} ms")
    print(f"check_budget(), fresh:          {mean_ms(lambda: service.check_budget(store, caller, fresh=True), 20):8.1f} ms")
    print(f"check_budget(), memoized:       {mean_ms(lambda: service.check_budget(store, caller), 50):8.2f} ms")
    store.close()


if __name__ == "__main__":
    main()
