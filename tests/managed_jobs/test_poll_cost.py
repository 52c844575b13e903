"""What one poll of a running managed job costs the state store: `lifecycle.refresh` of a healthy cluster reads
nothing more (the controller refreshes every running job's cluster each poll), and still re-reads after a change."""

from __future__ import annotations

from pathlib import Path

import pytest

from skyhop.execution import launch as launching
from skyhop.execution import lifecycle
from skyhop.execution.progress import Progress
from skyhop.spec.task import Task
from skyhop.state.store import StateStore

pytestmark = pytest.mark.slow


def test_refreshing_a_healthy_cluster_reads_nothing_more_and_a_changed_one_is_read_again(migrated_home, monkeypatch):
    store = StateStore()
    launching.launch(Task(run="sleep 120"), launching.LaunchOptions(cluster_name="polled", owner="me", detach_run=True), Progress(), store)
    try:
        record = store.get_cluster("polled")
        assert record is not None and record.status == "UP"
        reads = []
        real_get = store.get_cluster
        monkeypatch.setattr(store, "get_cluster", lambda name: reads.append(name) or real_get(name))
        assert lifecycle.refresh(store, record, have_lock=False) == record
        assert reads == []
        # The cluster stops itself (the agent's autostop writes this marker): the answer is the re-read row.
        head = Path(record.handle["nodes"][0]["base"])
        (head / "stopped").write_text("{\"reason\": \"autostop\"}")
        assert lifecycle.refresh(store, record, have_lock=False).status == "STOPPED"
        assert reads == ["polled"]
    finally:
        lifecycle.teardown(store, "polled", purge=False)
