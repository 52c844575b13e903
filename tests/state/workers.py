"""Child processes for the concurrency and crash tests (run as scripts).

Usage: python workers.py URL MODE TAG [N]. Each prints "ready" once its store
is open, waits for a line on stdin (so both children of a test start
together), then works, printing one line per finished operation.
"""

from __future__ import annotations

import os
import signal
import sys

from skyhop.state import db
from skyhop.state.records import ClusterRecord, JobRecord
from skyhop.state.store import StateStore


def concurrent_writes(store: StateStore, tag: str, n: int) -> None:
    """n rounds of: a new cluster, a request, a job on the shared cluster, a status flip."""
    for i in range(n):
        store.add_cluster(ClusterRecord(name=f"{tag}-{i}", provider="local", region="local"))
        store.create_request("launch", {"tag": tag, "i": i}, log_path=f"/logs/{tag}-{i}.log")
        store.upsert_jobs("shared", [JobRecord(job_id=hash_id(tag, i), status="PENDING", submitted_at=float(i), name=tag)])
        current = store.get_cluster("shared")
        store.set_cluster_status("shared", "STOPPED" if current.status == "UP" else "UP")
        print(i, flush=True)


def hash_id(tag: str, i: int) -> int:
    return (0 if tag == "a" else 1000) + i


def crash_loop(store: StateStore, tag: str, n: int) -> None:
    """Multi-row transactions forever (until killed): lifecycle of clusters with 20 jobs each."""
    i = 0
    while True:
        name = f"{tag}-{i % 5}"
        store.remove_cluster(name)
        store.add_cluster(ClusterRecord(name=name, provider="local", region="local", hourly_price=1.0))
        store.set_cluster_status(name, "UP")
        store.upsert_jobs(name, [JobRecord(job_id=j, status="RUNNING", submitted_at=0.0) for j in range(20)])
        store.set_cluster_status(name, "STOPPED")
        request = store.create_request("exec", {"i": i}, cluster=name, log_path="/dev/null")
        store.finish_request(request.request_id, "SUCCEEDED", result={"i": i})
        print(i, flush=True)
        i += 1


def die_in_transaction(store: StateStore, tag: str, n: int) -> None:
    """Write inside a transaction, flush it to the database, then SIGKILL before commit."""
    store.add_cluster(ClusterRecord(name="committed", provider="local", region="local"))
    print("committed", flush=True)
    with store._write() as session:  # the store's own transaction helper
        from skyhop.state.models import Cluster, ClusterEventRow

        session.add(Cluster(name="torn", provider="p", region="r", zone=None, status="UP", num_nodes=1, resources={},
                            handle={}, hourly_price=1.0, autostop_minutes=None, autostop_down=False, setup_hash=None,
                            user=None, launched_at=0.0, status_updated_at=0.0))
        session.flush()
        row = session.get(Cluster, "committed")
        row.status = "UP"
        session.add(ClusterEventRow(cluster="committed", event="LAUNCH", at=1.0, hourly_price=1.0, provider="p",
                                    region="r", num_nodes=1, resources={}, user=None))
        session.flush()
        os.kill(os.getpid(), signal.SIGKILL)


def die_in_migration(url: str) -> None:
    """Run the whole upgrade in its transaction, then SIGKILL before commit."""
    from alembic import command

    engine = db.create_engine(url)
    with db.migration_connection(engine) as connection:
        command.upgrade(db.alembic_config(connection), "head")
        print("migrated, not committed", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


def race_for_hosts(store: StateStore, tag: str, n: int) -> None:
    """n rounds of claiming the single host h<i> for cluster <tag>; prints who got it."""
    from skyhop.state.leases import HostLeases

    leases = HostLeases(store)
    for i in range(n):
        print(i, leases.acquire(tag, [f"h{i}"], 1) is not None, flush=True)


def main() -> None:
    url, mode, tag = sys.argv[1:4]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    if mode == "migration":
        die_in_migration(url)
        return
    store = StateStore(url)
    print("ready", flush=True)
    sys.stdin.readline()
    {"concurrent": concurrent_writes, "crash": crash_loop, "die": die_in_transaction, "race": race_for_hosts}[mode](store, tag, n)


if __name__ == "__main__":
    main()
