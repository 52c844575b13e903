"""Crash safety: kill -9 the API server mid-launch and while jobs run; Ctrl-C detaches; api cancel cleans up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

from e2e_support import cluster_processes, pid_gone, wait_for


def _kill_server(sky) -> None:
    pid = sky.server_pid()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: pid_gone(pid), what="server to die")


def test_server_killed_while_a_job_runs(sky):
    sky("launch", "-y", "-d", "-c", "crash", "sleep 3; echo survived", check=True)
    _kill_server(sky)
    rows = sky.clusters()  # auto-starts a new server
    assert rows["crash"]["status"] == "UP"
    wait_for(lambda: sky.jobs("crash")[1]["status"] == "SUCCEEDED", what="the job to finish without the server")
    assert "survived" in sky("logs", "crash", "1", check=True).out
    sky("down", "-y", "crash", check=True)
    assert cluster_processes(sky.skyhop_home) == []


def test_server_killed_during_launch_is_resumed_by_the_next_server(sky):
    task = sky.task("slow.yaml", "setup: sleep 2\nrun: sleep 1; echo done\n")
    client = sky.popen("launch", "-y", "-c", "mid", task)
    wait_for(lambda: (sky.node_dir("mid") / "agent").is_dir(), what="provisioning to start")
    _kill_server(sky)
    _, err = client.communicate(timeout=60)
    assert client.returncode != 0 and "Traceback" not in err
    sky("api", "start", check=True)  # the next server, which resumes the launch
    launch = next(r for r in sky.json("api", "status")["requests"] if r["name"] == "launch")
    reattached = sky("api", "logs", launch["request_id"], check=True)  # the same request, run to its end
    assert "done" in reattached.out and "Resumed after an API server restart" in reattached.err
    assert next(r for r in sky.json("api", "status")["requests"] if r["name"] == "launch")["status"] == "SUCCEEDED"
    assert sky.clusters()["mid"]["status"] == "UP"
    assert [(j["job_id"], j["status"]) for j in sky.json("queue", "mid")] == [(1, "SUCCEEDED")]  # one job, run once
    sky("down", "-y", "mid", check=True)
    assert not sky.node_dir("mid").exists() and cluster_processes(sky.skyhop_home) == []


def test_ctrl_c_detaches_and_api_logs_reattaches(sky):
    # The job runs until the test has pressed Ctrl-C (a fixed sleep could end first on a loaded machine).
    go = sky.cwd / "go"
    client = sky.popen("launch", "-y", "-c", "detach", f"while [ ! -e {go} ]; do sleep 0.1; done; echo finished-anyway")
    # Once the job runs (before that, Ctrl-C cancels the launch: tests/providers/test_ctrl_c_cancels_provisioning.py).
    wait_for(lambda: (sky.node_dir("detach") / "jobs.db").exists() and sky.jobs("detach"), what="the job to be submitted")
    masks = [line for line in Path(f"/proc/{client.pid}/status").read_text().splitlines() if line.startswith(("SigBlk", "SigIgn", "SigCgt"))]
    client.send_signal(signal.SIGINT)
    try:
        _, err = client.communicate(timeout=60)
    except subprocess.TimeoutExpired as stuck:
        client.kill()
        raise AssertionError(f"the launch did not end on Ctrl-C; its signal masks then: {masks}; stderr: {stuck.stderr!r}") from None
    finally:
        go.touch()
    assert client.returncode == 130 and "Detached" in err and "Traceback" not in err
    request_id = err.split("skyhop api logs ")[1].split()[0]
    reattached = sky("api", "logs", request_id, check=True)
    assert "finished-anyway" in reattached.out
    assert sky.jobs("detach")[1]["status"] == "SUCCEEDED"


def test_api_cancel_removes_what_the_launch_created(sky):
    task = sky.task("cancel.yaml", "setup: sleep 300\nrun: echo never\n")
    client = sky.popen("launch", "-y", "-c", "cxl", task)
    wait_for(lambda: sky.json("api", "status")["requests"], what="the request")
    request_id = next(r["request_id"] for r in sky.json("api", "status")["requests"] if r["name"] == "launch")
    wait_for(lambda: (sky.node_dir("cxl") / "jobs.db").exists(), what="setup to start")
    sky("api", "cancel", request_id, check=True)
    client.wait(timeout=60)
    assert client.returncode != 0
    wait_for(lambda: "cxl" not in sky.clusters(), what="the cancelled launch's cluster to go")
    assert cluster_processes(sky.skyhop_home) == []
    record = json.loads(sky("api", "status", "--output", "json", check=True).out)["requests"]
    assert next(r for r in record if r["request_id"] == request_id)["status"] == "CANCELLED"
