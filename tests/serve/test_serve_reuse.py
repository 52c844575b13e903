"""A service taken down and started again under the same name starts clean: its replica 1 launches at once
(a launch log left from the first life made it "resume" a job on a cluster long gone, fail, and retry 30 s
later under the next id), and its logs are its own."""

from __future__ import annotations

import pytest
from e2e.conftest import sky  # noqa: F401  (the real CLI and its auto-started server, per test)
from e2e_support import wait_for

from serve.serve_e2e import FAST, app_dir, get, ready, show_logs

pytestmark = pytest.mark.slow

SERVICE = (
    "name: again\nworkdir: {workdir}\nresources: {{cpus: 0.25}}\nservice: {{readiness_probe: /id, replicas: 1}}\n"
    'run: exec python3 lb_replica.py $SKYHOP_SERVE_PORT "$SKYPILOT_SERVE_REPLICA_ID"\n'
)


def test_a_service_started_again_under_its_old_name_launches_its_first_replica_at_once(sky, tmp_path):  # noqa: F811
    sky.skyhop_home.mkdir(mode=0o700, exist_ok=True)
    (sky.skyhop_home / "config.yaml").write_text(FAST)
    task = sky.task("again.yaml", SERVICE.format(workdir=app_dir(tmp_path)))
    try:
        for life in (1, 2):
            sky("serve", "up", "-y", task, check=True)
            wait_for(lambda: [r["replica_id"] for r in ready(sky, "again", 1)] == [1], 60, f"replica 1 READY in life {life}")
            endpoint = sky("serve", "status", "again", "--endpoint", check=True).out.strip()
            wait_for(lambda: get(f"{endpoint}/id") == "replica 1", 10, "replica 1 behind the endpoint")  # noqa: B023
            sky("serve", "down", "-y", "again", check=True)
            wait_for(lambda: sky.json("serve", "status") == [], 60, "the service gone")
            assert not (sky.skyhop_home / "services" / "again").exists()
    except BaseException:
        show_logs(sky.skyhop_home)
        raise
    finally:
        sky("serve", "down", "-a", "-y", timeout=120)
