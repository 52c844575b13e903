"""The broker's mirror of each cluster's job table."""

from __future__ import annotations

import pytest
from conftest import cluster

from skyhop.state.errors import ClusterNotFoundError
from skyhop.state.records import JobRecord


def job(job_id: int, status: str = "PENDING", **fields) -> JobRecord:
    return JobRecord(job_id=job_id, status=status, submitted_at=float(job_id), **fields)


def test_upsert_inserts_then_updates(store):
    store.add_cluster(cluster())
    assert store.upsert_jobs("c1", [job(1), job(2, name="train", user="bob", resources={"H100": 8}, num_nodes=2)]) == 2
    store.upsert_jobs("c1", [job(1, "SUCCEEDED", started_at=5.0, ended_at=9.0, exit_code=0), job(3, "RUNNING")])
    jobs = store.list_jobs("c1")
    assert [(j.job_id, j.status) for j in jobs] == [(3, "RUNNING"), (2, "PENDING"), (1, "SUCCEEDED")]
    assert store.get_job("c1", 1) == JobRecord(
        job_id=1, status="SUCCEEDED", submitted_at=1.0, started_at=5.0, ended_at=9.0, exit_code=0, cluster="c1"
    )
    two = store.get_job("c1", 2)
    assert (two.name, two.user, two.resources, two.num_nodes) == ("train", "bob", {"H100": 8}, 2)
    assert store.get_job("c1", 99) is None
    assert [j.job_id for j in store.list_jobs("c1", limit=1)] == [3]


def test_jobs_are_per_cluster_and_go_with_it(store):
    store.add_cluster(cluster("a"))
    store.add_cluster(cluster("b"))
    store.upsert_jobs("a", [job(1), job(2)])
    store.upsert_jobs("b", [job(1, "FAILED_SETUP", failure_reason="pip failed")])
    assert store.get_job("b", 1).failure_reason == "pip failed"
    store.remove_cluster("a")
    assert store.list_jobs("a") == []
    assert len(store.list_jobs("b")) == 1


def test_many_jobs_in_one_upsert(store):
    store.add_cluster(cluster())
    store.upsert_jobs("c1", [job(i) for i in range(1200)])
    store.upsert_jobs("c1", [job(i, "CANCELLED") for i in range(0, 1200, 2)])
    statuses = [j.status for j in store.list_jobs("c1")]
    assert len(statuses) == 1200 and statuses.count("CANCELLED") == 600


def test_upsert_rejects_unknown_cluster_and_status(store):
    with pytest.raises(ClusterNotFoundError):
        store.upsert_jobs("nope", [job(1)])
    store.add_cluster(cluster())
    with pytest.raises(ValueError, match="DONE"):
        store.upsert_jobs("c1", [job(1), job(2, "DONE")])
    assert store.list_jobs("c1") == []
