"""Recovery paths: backstops for a dead server, refresh repairs, purge, and a server that stays responsive."""

from __future__ import annotations

import http.client
import json
import os
import signal
import urllib.request

import pytest
from e2e_support import cluster_processes, pid_gone, wait_for


def test_failed_setup_runs_again_on_relaunch(sky, tmp_path):
    flag = tmp_path / "fixed"
    task = sky.task("flaky-setup.yaml", f"setup: test -e {flag} && echo SETUP-OK\nrun: echo RUN-OK\n")
    first = sky("launch", "-y", "-c", "su", task)
    assert first.code != 0 and sky.jobs("su")[1]["status"] == "FAILED_SETUP"
    flag.write_text("")
    second = sky("launch", "-y", "-c", "su", task, check=True)
    assert "SETUP-OK" in second.out and "RUN-OK" in second.out
    third = sky("launch", "-y", "-c", "su", task, check=True)
    assert "SETUP-OK" not in third.out and "RUN-OK" in third.out


@pytest.mark.slow
def test_launch_down_survives_the_server_dying(sky):
    # The agent's backstop: 2 s after the job instead of 30 (what is tested is that it acts, not how long it waits).
    sky.skyhop_home.mkdir(mode=0o700, exist_ok=True)
    (sky.skyhop_home / "config.yaml").write_text("api_server:\n  down_backstop_seconds: 2\n")
    client = sky.popen("launch", "-y", "-c", "dn", "--down", "sleep 3; echo done")
    wait_for(lambda: (sky.node_dir("dn") / "autostop.json").exists(), what="the autodown backstop to be set")
    backstop = json.loads((sky.node_dir("dn") / "autostop.json").read_text())
    assert backstop["down"] and backstop["idle_minutes"] * 60 == pytest.approx(2), backstop
    pid = sky.server_pid()
    os.kill(pid, signal.SIGKILL)
    client.wait(timeout=60)
    wait_for(lambda: not (sky.skyhop_home / "clusters" / "dn").exists(), timeout=90, what="the agent to take the cluster down by itself")
    # The next server resumes the launch request; while its follow-up holds the
    # cluster's lock, `status` shows the stored record, so the removal shows up a moment later.
    wait_for(lambda: "dn" not in sky.clusters(), timeout=60, what="status to drop the cluster the agent took down")
    assert cluster_processes(sky.skyhop_home) == []


def test_refresh_restarts_a_dead_agent_daemon(sky):
    sky("launch", "-y", "-c", "dd", "echo hi", check=True)
    pid_file = sky.node_dir("dd") / "daemon.pid"
    old = int(pid_file.read_text())
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: pid_gone(old), what="the daemon to die")
    assert sky.clusters()["dd"]["status"] == "UP"
    sky("status", "--refresh", check=True)
    new = int(pid_file.read_text())
    assert new != old and not pid_gone(new)


def test_partly_removed_cluster_is_init_and_down_cleans_it(sky):
    import shutil

    sky("launch", "-y", "-c", "half", "--num-nodes", "2", "echo hi", check=True)
    shutil.rmtree(sky.node_dir("half", 1))
    assert sky.clusters()["half"]["status"] == "INIT"
    sky("down", "-y", "half", check=True)
    assert not (sky.skyhop_home / "clusters" / "half").exists()


def test_down_purge_forgets_a_cluster_whose_provider_is_gone(sky):
    sky("status", check=True)  # creates the state DB through the server
    from skyhop.state.records import ClusterRecord
    from skyhop.state.store import StateStore

    store = StateStore(f"sqlite:///{sky.skyhop_home / 'state.db'}")
    store.add_cluster(ClusterRecord(name="orphan", provider="gonecloud", region="r1"))
    refused = sky("down", "-y", "orphan")
    assert refused.code != 0 and "gonecloud" in refused.err
    purged = sky("down", "-y", "--purge", "orphan", check=True)
    assert "removed" in purged.out and "orphan" not in sky.clusters()


def test_invalid_names_are_refused_before_any_request(sky):
    for args in (("queue", "a/b"), ("logs", "a b"), ("cancel", "x/y", "1"), ("down", "-y", "Bad"), ("stop", "-y", "a/b")):
        result = sky(*args)
        assert result.code != 0 and "Invalid cluster name" in result.err, args


def test_many_followers_do_not_starve_the_server(sky):
    client = sky.popen("launch", "-y", "-c", "busy", "sleep 8")
    wait_for(lambda: sky.json("api", "status")["requests"], what="the launch request")
    info = json.loads((sky.skyhop_home / "api" / "server.json").read_text())
    request_id = sky.json("api", "status")["requests"][0]["request_id"]
    host, port = info["url"].rsplit("//", 1)[1].split(":")
    followers = []
    try:
        for _ in range(60):  # more than the server's worker threads
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            conn.request("GET", f"/api/v1/requests/{request_id}/events?follow=true", headers={"Authorization": f"Bearer {info['token']}"})
            conn.getresponse()
            followers.append(conn)
        health = urllib.request.urlopen(f"{info['url']}/api/v1/health", timeout=10)
        assert json.loads(health.read())["ok"]
        assert sky("status", check=True).code == 0
    finally:
        for conn in followers:
            conn.close()
        client.kill()
        client.wait()
