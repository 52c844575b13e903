"""Pools through the raw API and the SDK: bad input is a 4xx naming the field, never a 500; the SDK applies,
lists, runs a job on the pool and takes it down."""

from __future__ import annotations

import pytest
from e2e_support import wait_for
from server.api_http import send, start_server, stop_server

import skyhop
from managed_jobs.conftest import FAST

pytestmark = pytest.mark.slow


@pytest.fixture
def server(migrated_home):
    proc, info = start_server(migrated_home, FAST)
    yield info
    stop_server(proc, info)


def test_bad_pool_input_is_a_4xx_naming_the_field(server):
    pool = {"resources": {"cpus": 0.5}, "pool": {"workers": 2}}
    cases = [
        ({"name": "p", "task": {"resources": {"cpus": 0.5}}}, "pool"),
        ({"name": "p", "task": {"pool": {"workers": 0}}}, "pool.workers"),
        ({"name": "p", "task": {"pool": {"workers": 1000}}}, "pool.workers"),
        ({"name": "p", "task": {"pool": {"min_workers": 1}}}, "pool.min_workers"),
        ({"name": "p", "task": {"pool": {"workers": 2, "downscale_delay_seconds": 5}}}, "pool.downscale_delay_seconds"),
        ({"name": "p", "task": {"pool": {"min_workers": 0, "max_workers": 1000}}}, "pool.max_workers"),
        ({"name": "p", "task": {"pool": {"min_workers": 3, "max_workers": 2}}}, "pool.max_workers"),
        ({"name": "p", "task": {"pool": {"max_workers": 2, "queue_length_threshold": 0}}}, "pool.queue_length_threshold"),
        ({"name": "p", "task": {"pool": {}}}, "pool.workers"),
        ({"name": "p", "task": {"pool": {"workers": "two"}}}, "pool.workers"),
        ({"name": "p", "task": {"pool": {"wrokers": 2}}}, "wrokers"),
        ({"name": "../etc", "task": pool}, "Pool name"),
        ({"name": "p", "task": pool, "surprise": 1}, "surprise"),
        ({"task": pool}, "name"),
    ]
    for body, field in cases:
        answer = send(server, "POST", "/api/v1/managed-jobs/pools", json_body=body)
        assert 400 <= answer.status < 500 and field in answer.text, (body, answer.status, answer.text)
    for body in ({}, {"names": ["p"], "all": True}):
        assert send(server, "POST", "/api/v1/managed-jobs/pools/down", json_body=body).status == 422, body
    assert send(server, "POST", "/api/v1/managed-jobs/pools/down", json_body={"names": ["nope"]}).status == 404
    assert send(server, "GET", "/api/v1/managed-jobs/pools?name=nope").status == 404
    assert send(server, "POST", "/api/v1/managed-jobs/cancel", json_body={"pool": "nope"}).status == 404
    assert send(server, "POST", "/api/v1/managed-jobs/cancel", json_body={"pool": "p", "all": True}).status == 422
    launch = {"tasks": [{"run": "echo"}], "pool": "nope"}
    assert send(server, "POST", "/api/v1/managed-jobs", json_body=launch).status == 404
    for num_jobs in (0, 10_001):
        answer = send(server, "POST", "/api/v1/managed-jobs", json_body={"tasks": [{"run": "echo"}], "num_jobs": num_jobs})
        assert answer.status == 422 and "num_jobs" in answer.text
    assert send(server, "GET", "/api/v1/managed-jobs/pools", auth=False).status == 401
    assert send(server, "GET", "/api/v1/managed-jobs/pools").json == []


def test_the_sdk_applies_a_pool_runs_a_job_on_it_and_takes_it_down(migrated_home, fast_jobs):
    try:
        task = skyhop.Task.from_dict({"name": "sdkpool", "resources": {"cpus": 0.5}, "pool": {"workers": 1}})
        applied = skyhop.jobs_pool_apply(task, "sdkpool")
        assert applied == {"name": "sdkpool", "workers": 1, "created": True, "version": 1, "rolling": False, "min_workers": None, "max_workers": None}
        wait_for(lambda: skyhop.jobs_pool_status("sdkpool")[0]["ready"] == 1, 120, "the worker READY")
        (job_id,) = skyhop.jobs_launch(skyhop.Task(name="onpool", run="echo rank $SKYPILOT_JOB_RANK of $SKYPILOT_NUM_JOBS"), pool="sdkpool")
        wait_for(lambda: skyhop.jobs_queue(job_ids=[job_id])[0]["status"] == "SUCCEEDED", 120, "the job succeeded")
        assert b"rank 0 of 1" in b"".join(skyhop.jobs_logs(job_id, follow=False))
        worker = skyhop.jobs_pool_status("sdkpool")[0]["worker_details"][0]
        assert skyhop.jobs_queue(job_ids=[job_id])[0]["cluster"] == worker["cluster"] and worker["job_id"] is None
        assert skyhop.jobs_pool_down(["sdkpool"]) == {"shutting_down": ["sdkpool"]}
        wait_for(lambda: skyhop.jobs_pool_status() == [], 120, "the pool gone")
        assert skyhop.status() == []
    finally:
        from skyhop.client.server_process import stop_local

        stop_local()
