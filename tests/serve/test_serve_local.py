"""Serving end to end on the local provider: the real CLI, API server, serve controller, load balancer
process and replica clusters (see serve_e2e for the scenario)."""

from __future__ import annotations

import pytest
from e2e.conftest import sky  # noqa: F401  (the real CLI and its auto-started server, per test)
from e2e_support import cluster_processes

from serve.serve_e2e import FAST, app_dir, preempt_update_and_down, require_wrk
from skyhop.serve.lb_process import free_port

pytestmark = pytest.mark.slow

SERVICE = """\
name: web
workdir: {workdir}
resources:
  cpus: 0.25
  ports: {port}
envs:
  VERSION: "{version}"
run: exec python3 lb_replica.py $SKYHOP_SERVE_PORT "$SKYPILOT_SERVE_REPLICA_ID v$VERSION"
service:
  readiness_probe:
    path: /id
    initial_delay_seconds: 60
  replicas: 2
"""


def test_preempt_and_rolling_update_under_load_fail_no_request_and_down_leaves_nothing(sky, tmp_path):  # noqa: F811
    require_wrk()
    sky.skyhop_home.mkdir(mode=0o700, exist_ok=True)
    (sky.skyhop_home / "config.yaml").write_text(FAST)
    workdir = app_dir(tmp_path)
    try:
        # Each replica gets a port of its own ($SKYHOP_SERVE_PORT): local nodes share this machine's ports.
        # The task asks for a port, as SkyPilot's do; the first replica gets it, the others ports of their own.
        port = free_port("127.0.0.1")
        preempt_update_and_down(sky, lambda version: SERVICE.format(workdir=workdir, version=version, port=port),
                                after_down=lambda: not cluster_processes(sky.skyhop_home) or pytest.fail("replica processes left"))
    finally:
        sky("serve", "down", "-a", "-y", timeout=120)
