"""Serving survives crashes: kill -9 of the load balancer (restarted on the same port), of the API server
while a replica launches (the next server removes the half-made replica and launches a fresh one, nothing
leaks) and while the service serves (the endpoint keeps answering; the next server adopts the same load
balancer process)."""

from __future__ import annotations

import os
import signal
import time

import pytest
from e2e.conftest import sky  # noqa: F401  (the real CLI and its auto-started server, per test)
from e2e_support import pid_gone, wait_for

from serve.serve_e2e import FAST, app_dir, get, load_balancers, service, show_logs

pytestmark = pytest.mark.slow

SERVICE = """\
name: web
workdir: {workdir}
resources:
  cpus: 0.25
setup: sleep {setup}
run: exec python3 lb_replica.py $SKYHOP_SERVE_PORT $SKYPILOT_SERVE_REPLICA_ID
service:
  readiness_probe: /id
  replicas: 1
"""


def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: pid_gone(pid), 10, f"pid {pid} dead")


def test_kill_9_of_the_load_balancer_and_of_the_api_server(sky, tmp_path):  # noqa: F811
    sky.skyhop_home.mkdir(mode=0o700, exist_ok=True)
    (sky.skyhop_home / "config.yaml").write_text(FAST)
    try:
        _crashes(sky, tmp_path)
    except BaseException:
        show_logs(sky.skyhop_home)
        raise
    finally:
        sky("serve", "down", "-a", "-y", timeout=120)


def _crashes(sky, tmp_path) -> None:  # noqa: F811
    # The API server dies while the only replica runs its setup: the next server removes that half-made replica.
    sky("serve", "up", "-y", sky.task("web.yaml", SERVICE.format(workdir=app_dir(tmp_path), setup=3)), check=True)
    wait_for(lambda: [r["status"] for r in service(sky, "web")["replicas"]] == ["PROVISIONING"], 60, "replica 1 provisioning")
    _kill(sky.server_pid())
    wait_for(lambda: [(r["replica_id"], r["status"]) for r in service(sky, "web")["replicas"]] == [(2, "READY")], 120, "replica 2 READY")
    assert "Replica 1: its launch was cut short" in sky("serve", "logs", "web", "--controller", "--no-follow", check=True).out
    assert set(sky.clusters()) == {"web-2"}  # replica 1's cluster is gone
    endpoint = service(sky, "web")["endpoint"]
    wait_for(lambda: get(f"{endpoint}/id") == "replica 2", 10, "the endpoint answers")

    # The load balancer dies: the controller starts another on the same port.
    [lb] = load_balancers(sky.skyhop_home)
    _kill(lb)
    wait_for(lambda: load_balancers(sky.skyhop_home) not in ([], [lb]), 30, "a new load balancer")
    wait_for(lambda: _answers(f"{endpoint}/id"), 30, "the same endpoint answering again")
    assert service(sky, "web")["endpoint"] == endpoint

    # The API server dies while the service serves: the endpoint keeps answering, and the next server
    # adopts that same load balancer (no second one, no new port) and the same replica.
    [lb] = load_balancers(sky.skyhop_home)
    _kill(sky.server_pid())
    for _ in range(5):
        assert get(f"{endpoint}/id") == "replica 2"
        time.sleep(0.1)
    wait_for(lambda: service(sky, "web")["status"] == "READY", 60, "READY under the next server")
    time.sleep(1)  # a few controller steps
    assert load_balancers(sky.skyhop_home) == [lb]
    assert [r["replica_id"] for r in service(sky, "web")["replicas"]] == [2] and set(sky.clusters()) == {"web-2"}


def _answers(url: str) -> bool:
    try:
        return get(url) == "replica 2"
    except OSError:
        return False
