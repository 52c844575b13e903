"""A replica whose program never listens on the port it was given (SkyPilot's examples hard-code theirs; on
the local provider each replica gets a free port of its own) fails its initial delay with a reason that
names $SKYHOP_SERVE_PORT and the port, not only "connection refused"; the FAILED service's endpoint then
answers 503 at once (no replica is coming) instead of holding each request for the 600 s wait timeout."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from e2e.conftest import sky  # noqa: F401  (the real CLI and its auto-started server, per test)
from e2e_support import wait_for

from serve.serve_e2e import FAST, app_dir, get, service

pytestmark = pytest.mark.slow

SERVICE = """\
name: deaf
resources:
  cpus: 0.25
run: exec sleep 600
service:
  readiness_probe:
    path: /
    initial_delay_seconds: 1
  replicas: 1
"""


def test_a_replica_that_never_listens_fails_with_a_reason_naming_its_port(sky):  # noqa: F811
    sky.skyhop_home.mkdir(mode=0o700, exist_ok=True)
    (sky.skyhop_home / "config.yaml").write_text(FAST)
    try:
        sky("serve", "up", "-y", sky.task("deaf.yaml", SERVICE), check=True)
        failed = wait_for(lambda: service(sky, "deaf")["status"] == "FAILED" and service(sky, "deaf"), 60, "the service FAILED")
        (replica,) = failed["replicas"]
        port = replica["url"].rsplit(":", 1)[1]
        assert replica["status"] == "FAILED_INITIAL_DELAY"
        assert replica["status_reason"].endswith(f"connection refused (does the program listen on $SKYHOP_SERVE_PORT, here {port}?)")
        endpoint = sky("serve", "status", "deaf", "--endpoint", check=True).out.strip()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(endpoint, timeout=10)
        assert refused.value.code == 503 and b"none is starting" in refused.value.read()
    finally:
        sky("serve", "down", "-a", "-y", timeout=120)


HARD_CODED = """\
name: fixed
workdir: {workdir}
resources:
  cpus: 0.25
  ports: {port}
run: exec python3 lb_replica.py {port} one
service:
  readiness_probe: /id
  replicas: 1
"""


def test_a_program_that_hard_codes_the_service_port_serves_as_one_replica_on_local(sky, tmp_path):  # noqa: F811
    # SkyPilot's examples listen on their fixed port; on this machine the first replica is given that port.
    from skyhop.serve.lb_process import free_port

    sky.skyhop_home.mkdir(mode=0o700, exist_ok=True)
    (sky.skyhop_home / "config.yaml").write_text(FAST)
    port = free_port("127.0.0.1")
    try:
        sky("serve", "up", "-y", sky.task("fixed.yaml", HARD_CODED.format(workdir=app_dir(tmp_path), port=port)), check=True)
        ready = wait_for(lambda: service(sky, "fixed")["status"] == "READY" and service(sky, "fixed"), 60, "READY")
        assert ready["replicas"][0]["url"].endswith(f":{port}")
        assert get(f"{ready['endpoint']}/id") == "replica one"
    finally:
        sky("serve", "down", "-a", "-y", timeout=120)


CRASHING = """\
name: crash
resources:
  cpus: 0.25
run: |
  echo "boom: the model weights are missing" >&2
  exit 3
service:
  readiness_probe: /
  replicas: 1
"""


def test_a_failed_replicas_output_is_kept_after_its_cluster_is_gone(sky):  # noqa: F811
    sky.skyhop_home.mkdir(mode=0o700, exist_ok=True)
    (sky.skyhop_home / "config.yaml").write_text(FAST)
    try:
        sky("serve", "up", "-y", sky.task("crash.yaml", CRASHING), check=True)
        failed = wait_for(lambda: service(sky, "crash")["status"] == "FAILED" and service(sky, "crash"), 60, "the service FAILED")
        assert failed["replicas"][0]["status"] == "FAILED" and "exit code 3" in failed["replicas"][0]["status_reason"]
        assert sky.clusters() == {}  # its cluster is gone...
        out = sky("serve", "logs", "crash", "1", "--no-follow", check=True).out
        assert "boom: the model weights are missing" in out  # ...and what the program said is still there
    finally:
        sky("serve", "down", "-a", "-y", timeout=120)
