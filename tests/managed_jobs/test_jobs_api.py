"""Managed jobs through the SDK and the raw API: bad input is a 4xx naming the field, secrets are never
stored (and a restarted server that lacks them says so instead of launching without them)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3

import pytest
from e2e_support import pid_gone, wait_for
from server.api_http import send, start_server, stop_server

import skyhop
from managed_jobs.conftest import FAST

pytestmark = pytest.mark.slow

SECRET = "s3cr3t-only-in-memory"


@pytest.fixture
def server(migrated_home):
    proc, info = start_server(migrated_home, FAST)
    yield info
    if proc.poll() is None:
        send(info, "POST", "/api/v1/managed-jobs/cancel", json_body={"all": True})
        wait_for(lambda: not [r for r in send(info, "GET", "/api/v1/managed-jobs?skip_finished=true").json], 60, "jobs ended")
    stop_server(proc, info)


def test_bad_input_is_refused_naming_the_field(server):
    cases = [
        ({"tasks": []}, "tasks"),
        ({"tasks": [{"run": "echo", "resources": {"cpus": "many"}}]}, "resources.cpus"),
        ({"tasks": [{"run": "echo"}], "num_jobs": 0}, "num_jobs"),
        ({"tasks": [{"run": "echo"}], "surprise": 1}, "surprise"),
        ({"tasks": [{"run": "echo", "resources": {"job_recovery": "SOMETIMES"}}]}, "job_recovery"),
    ]
    for body, field in cases:
        answer = send(server, "POST", "/api/v1/managed-jobs", json_body=body)
        assert 400 <= answer.status < 500 and field in answer.text, (body, answer.status, answer.text)
    for body in ({}, {"job_ids": [1], "all": True}, {"job_ids": [0]}):
        answer = send(server, "POST", "/api/v1/managed-jobs/cancel", json_body=body)
        assert answer.status == 422, (body, answer.text)
    assert send(server, "GET", "/api/v1/managed-jobs/99/logs").status == 404
    assert send(server, "POST", "/api/v1/managed-jobs/cancel", json_body={"job_ids": [99]}).status == 404
    assert send(server, "GET", "/api/v1/managed-jobs", auth=False).status == 401


def test_the_sdk_launches_follows_and_lists(migrated_home, fast_jobs):
    try:
        (job_id,) = skyhop.jobs_launch(skyhop.Task(name="sdk", run="echo from the sdk"))
        wait_for(lambda: skyhop.jobs_queue(job_ids=[job_id])[0]["status"] == "SUCCEEDED", 120, "the job succeeded")
        assert b"from the sdk" in b"".join(skyhop.jobs_logs(job_id, follow=False))
        assert skyhop.jobs_cancel(job_ids=[job_id]) == {"cancelled": [], "already_done": [job_id]}
    finally:
        from skyhop.client.server_process import stop_local

        stop_local()


def test_secret_values_are_never_stored_and_a_restarted_server_will_not_launch_without_them(server, migrated_home, tmp_path):
    task = {"name": "secretive", "resources": {"cpus": 0.25}, "secrets": {"TOKEN": SECRET},
            "run": f'printf %s "$TOKEN" > {tmp_path}/seen; sleep 600'}
    answer = send(server, "POST", "/api/v1/managed-jobs", json_body={"tasks": [task]})
    assert answer.status == 200, answer.text
    (job_id,) = answer.json["job_ids"]
    wait_for(lambda: (tmp_path / "seen").exists() and (tmp_path / "seen").read_text() == SECRET, 120, "the job running with its secret")
    database = migrated_home / ".skyhop" / "state.db"
    with sqlite3.connect(database) as db:
        stored = json.dumps(db.execute("SELECT tasks, withheld FROM managed_jobs").fetchall())
    assert SECRET not in stored and "<redacted>" in stored and "secret TOKEN" in stored
    for path in (migrated_home / ".skyhop" / "managed_jobs").rglob("*"):
        assert not path.is_file() or SECRET.encode() not in path.read_bytes(), path

    os.kill(server.pid, signal.SIGKILL)
    wait_for(lambda: pid_gone(server.pid), 30, "the server gone")
    (migrated_home / ".skyhop" / "api" / "server.json").unlink()  # what the killed server left
    proc, again = start_server(migrated_home, FAST)
    try:
        row = send(again, "GET", "/api/v1/managed-jobs").json[0]
        assert row["status"] == "RUNNING"  # the running attempt needs no secret: it is followed
        send(again, "POST", f"/api/v1/clusters/{row['cluster']}/chaos/preempt", json_body={"node": 0})
        wait_for(lambda: send(again, "GET", "/api/v1/managed-jobs").json[0]["status"] == "FAILED_CONTROLLER", 60, "the relaunch refused")
        reason = send(again, "GET", "/api/v1/managed-jobs").json[0]["failure_reason"]
        assert "secret TOKEN" in reason and "never stored" in reason and SECRET not in reason
        wait_for(lambda: send(again, "GET", "/api/v1/clusters").json == [], 60, "the cluster taken down")
    finally:
        stop_server(proc, again)
