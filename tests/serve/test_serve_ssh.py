"""Serving end to end on SSH node pools (namespace hosts with real sshd): each replica on a host of its own,
listening on the service's port on the host's address (see serve_e2e for the scenario); nothing is left on
any host afterwards."""

from __future__ import annotations

import pytest
from e2e_support import Sky
from ssh.conftest import namespace_hosts
from ssh.test_ssh_pools import assert_clean

from serve.serve_e2e import FAST, app_dir, preempt_update_and_down, require_wrk

pytestmark = pytest.mark.slow

SERVICE = """\
name: web
workdir: {workdir}
resources:
  infra: ssh
  ports: 8080
envs:
  VERSION: "{version}"
run: exec python3 lb_replica.py $SKYHOP_SERVE_PORT "$SKYPILOT_SERVE_REPLICA_ID v$VERSION" 0.0.0.0
service:
  readiness_probe:
    path: /id
    initial_delay_seconds: 60
  replicas: 2
"""


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    # Two replicas, one replacement after a preemption, two of the next version during a rolling update
    # (the preempted host is free again by then), two more for a blue-green update.
    yield from namespace_hosts(tmp_path_factory, 4)


def _config(hosts) -> str:
    first = hosts[0]
    return f"""ssh_node_pools:
  serving:
    price: 0.1
    cpus: 2
    memory_gib: 4
    user: {first.user}
    identity_file: {first.identity_file}
    hosts: [{', '.join(h.ip for h in hosts)}]
""" + FAST


def test_preempt_and_rolling_update_under_load_on_ssh_hosts(hosts, isolated_home, tmp_path, migrated_state_db):
    require_wrk()
    work = tmp_path / "work"
    work.mkdir()
    sky = Sky(isolated_home, work)
    sky.seed_state(migrated_state_db)
    (sky.skyhop_home / "config.yaml").write_text(_config(hosts))
    workdir = app_dir(tmp_path)
    try:
        preempt_update_and_down(sky, lambda version: SERVICE.format(workdir=workdir, version=version),
                                after_down=lambda: [assert_clean(h) for h in hosts])
    finally:
        try:
            if (sky.skyhop_home / "api" / "server.json").exists():
                sky("serve", "down", "-a", "-y", timeout=120)
        finally:
            sky.teardown()
