"""Autoscaling end to end on the local provider: a service scaled to zero wakes on its first request,
scales up under a load step after its upscale delay and back down after its downscale delay."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest
from e2e.conftest import sky  # noqa: F401  (the real CLI and its auto-started server, per test)
from e2e_support import wait_for

from serve.serve_e2e import show_logs

pytestmark = pytest.mark.slow

FAST = (
    "jobs:\n  controller_tick_seconds: 0.2\n"
    "serve:\n  probe_seconds: 0.3\n  decision_seconds: 0.5\n  drain_seconds: 5\n  qps_window_seconds: 4\n"
)
UP_DELAY, DOWN_DELAY = 3, 5
SERVICE = f"""\
name: auto
workdir: {{workdir}}
resources:
  cpus: 0.25
run: exec python3 lb_replica.py $SKYHOP_SERVE_PORT $SKYPILOT_SERVE_REPLICA_ID
service:
  readiness_probe: /id
  replica_policy:
    min_replicas: 0
    max_replicas: 2
    target_qps_per_replica: 20
    upscale_delay_seconds: {UP_DELAY}
    downscale_delay_seconds: {DOWN_DELAY}
"""


@pytest.fixture
def auto(sky, tmp_path):  # noqa: F811
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (tests/setup_system.sh installs it)")
    sky.skyhop_home.mkdir(mode=0o700, exist_ok=True)
    (sky.skyhop_home / "config.yaml").write_text(FAST)
    workdir = tmp_path / "app"
    workdir.mkdir()
    shutil.copy(Path(__file__).with_name("lb_replica.py"), workdir)
    yield sky
    sky("serve", "down", "-a", "-y", timeout=120)


def _service(sky) -> dict:  # noqa: F811
    return sky.json("serve", "status", "auto")[0]


def _targets(sky) -> list[tuple[float, int, int]]:  # noqa: F811
    """(time, from, to) of each target change in the controller's log."""
    log = sky("serve", "logs", "auto", "--controller", "--no-follow", check=True).out
    out = []
    for line in log.splitlines():
        found = re.match(r"(\S+ \S+) Target (\d+) -> (\d+) replica", line)
        if found:
            out.append((datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S").timestamp(), int(found.group(2)), int(found.group(3))))
    return out


def test_scale_to_zero_wakes_on_the_first_request_then_a_load_step_scales_up_and_back_down(auto, tmp_path):
    try:
        _scale(auto, tmp_path)
    except BaseException:
        show_logs(auto.skyhop_home)
        raise


def _scale(sky, tmp_path) -> None:
    sky("serve", "up", "-y", sky.task("auto.yaml", SERVICE.format(workdir=tmp_path / "app")), check=True)
    wait_for(lambda: _service(sky)["status"] == "NO_REPLICA" and _service(sky)["endpoint"], 60, "scaled to zero with an endpoint")
    service = _service(sky)
    assert "first request" in (service["status_reason"] or "") and service["replicas"] == []

    # The first request waits for a replica and is answered by it.
    started = time.monotonic()
    with urllib.request.urlopen(f"{service['endpoint']}/id", timeout=120) as response:
        assert response.read() == b"replica 1"
    assert time.monotonic() - started > 0.2  # it waited for a launch
    wait_for(lambda: _service(sky)["status"] == "READY", 30, "READY")

    # A load step well above one replica's 20 requests/s: up to max_replicas, not before the upscale delay.
    load_start = time.time()
    subprocess.run(["wrk", "-t1", "-c4", "-d8s", f"{service['endpoint']}/id"], check=True, capture_output=True, timeout=60)
    load_end = time.time()
    wait_for(lambda: sum(r["status"] == "READY" for r in _service(sky)["replicas"]) == 2, 60, "two READY replicas")
    up = next(t for t in _targets(sky) if t[2] == 2)
    assert up[0] >= int(load_start) + UP_DELAY - 1, (up, load_start)  # log times are whole seconds

    # Load gone: back to zero once the rate window empties and the downscale delay passed.
    wait_for(lambda: _service(sky)["replicas"] == [], 90, "scaled back to zero")
    down = next(t for t in _targets(sky) if t[1] == 2 and t[2] < 2)
    assert down[0] >= int(load_end) + DOWN_DELAY - 1, (down, load_end)
    assert _service(sky)["status"] == "NO_REPLICA"
    assert sky.clusters() == {}
