"""A pool worker's half-made cluster (INIT, no lost node) is removed before its launch starts again, but only if no
launch of it still runs: the check is made under the cluster's lock, which a running launch holds until its cluster
is UP (checked before waiting for that lock, it tore down the cluster another launch had just finished)."""

from __future__ import annotations

import threading

from skyhop.execution.locks import cluster_lock
from skyhop.server.controllers.cluster_ops import remove_interrupted_launch as _remove_interrupted_launch
from skyhop.state.records import ClusterRecord
from skyhop.state.store import StateStore


def test_a_launch_still_running_keeps_its_cluster(migrated_home):
    store = StateStore()
    store.add_cluster(ClusterRecord(name="wp-1", provider="local", region="local"))  # INIT: being made
    read = threading.Event()
    get_cluster = store.get_cluster

    def watched_get(name: str):
        read.set()
        return get_cluster(name)

    store.get_cluster = watched_get  # type: ignore[method-assign]
    removed: list[bool] = []
    with cluster_lock("wp-1"):  # the running launch
        remover = threading.Thread(target=lambda: removed.append(_remove_interrupted_launch(store, "wp-1")))
        remover.start()
        # A remover that reads before the lock has INIT in hand by now; one that waits for the lock reads nothing.
        read.wait(1.0)
        store.set_cluster_status("wp-1", "UP")  # the launch finished
    remover.join(60)
    assert removed == [False]
    record = get_cluster("wp-1")
    assert record is not None and record.status == "UP"


def test_a_launch_cut_short_is_removed(migrated_home):
    store = StateStore()
    store.add_cluster(ClusterRecord(name="wp-2", provider="local", region="local"))
    assert _remove_interrupted_launch(store, "wp-2") is True
    assert store.get_cluster("wp-2") is None
    store.add_cluster(ClusterRecord(name="wp-3", provider="local", region="local"))
    store.set_cluster_status("wp-3", "INIT", reason="lost node 1")
    assert _remove_interrupted_launch(store, "wp-3") is False  # a lost node: the worker is replaced another way
