"""Managed jobs end to end on the local provider: the real CLI, the real API server hosting the controller."""

from __future__ import annotations

import json

import pytest
from e2e_support import wait_for


@pytest.fixture(autouse=True)
def _fast(fast_jobs):
    return fast_jobs


def _row(sky, job_id: int) -> dict:
    return next(r for r in sky.json("jobs", "queue") if r["id"] == job_id)


def test_a_managed_job_runs_to_succeeded_and_leaves_nothing(sky):
    result = sky("jobs", "launch", "-y", "-n", "hello", "echo hello from $SKYPILOT_TASK_ID after $SKYPILOT_NUM_RECOVERIES", check=True, timeout=180)
    assert "hello from skyhop-managed-1 after 0" in result.out
    row = _row(sky, 1)
    assert row["status"] == "SUCCEEDED" and row["recovery_count"] == 0 and row["name"] == "hello"
    assert [a["outcome"] for a in row["attempts"]] == ["succeeded"]
    assert row["attempts"][0]["provider"] == "local" and row["attempts"][0]["cluster"] == "hello-1"
    assert sky.clusters() == {}
    events = sky("jobs", "logs", "1", "--controller", "--no-follow", check=True).out
    assert "launching cluster 'hello-1'" in events and "SUCCEEDED" in events


def test_detached_launch_queue_and_logs_follow_to_the_end(sky):
    submitted = sky("jobs", "launch", "-y", "-d", "--output", "json", "-n", "count", "for i in 1 2 3; do echo line $i; sleep 0.3; done", check=True)
    job_id = json.loads(submitted.out)["job_ids"][0]
    wait_for(lambda: _row(sky, job_id)["status"] in ("STARTING", "RUNNING", "SUCCEEDED"), 60, "the controller picked the job up")
    out = sky("jobs", "logs", str(job_id), check=True, timeout=120).out
    assert "line 1" in out and "line 3" in out and f"Job {job_id} is SUCCEEDED" in out
    table = sky("jobs", "queue", check=True).out
    assert "SUCCEEDED" in table and "count" in table
    assert sky.clusters() == {}
