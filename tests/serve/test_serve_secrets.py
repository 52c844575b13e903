"""Secret values reach a service's replicas but never the state database; a service whose values the
serving process was never given (its server restarted) says so instead of launching without them."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e.conftest import sky  # noqa: F401  (the real CLI and its auto-started server, per test)
from e2e_support import wait_for

from skyhop.spec.task import REDACTED

pytestmark = pytest.mark.slow

FAST = "jobs:\n  controller_tick_seconds: 0.2\nserve:\n  probe_seconds: 0.3\n  decision_seconds: 0.5\n"
SERVICE = """\
name: vault
resources:
  cpus: 0.25
secrets:
  TOKEN: {token}
run: |
  echo "$TOKEN" > {out}/token-$SKYPILOT_SERVE_REPLICA_ID
  exec python3 -m http.server $SKYHOP_SERVE_PORT --bind 127.0.0.1
service:
  readiness_probe: /
  replicas: 1
"""


@pytest.fixture
def fast(sky):  # noqa: F811
    sky.skyhop_home.mkdir(mode=0o700, exist_ok=True)
    (sky.skyhop_home / "config.yaml").write_text(FAST)
    yield sky
    sky("serve", "down", "-a", "-y", timeout=120)
    wait_for(lambda: sky.json("serve", "status") == [], 60, "every service gone")


def test_the_secret_reaches_the_replica_and_not_the_database(fast, tmp_path):
    sky = fast
    out = tmp_path / "out"
    out.mkdir()
    sky("serve", "up", "-y", sky.task("vault.yaml", SERVICE.format(token="s3cret-value", out=out)), check=True)
    wait_for(lambda: (out / "token-1").exists() and (out / "token-1").read_text().strip(), 120, "the replica ran")
    assert (out / "token-1").read_text().strip() == "s3cret-value"
    stored = b"".join(p.read_bytes() for p in sky.skyhop_home.glob("state.db*"))
    assert b"s3cret-value" not in stored
    # Nor the service's folder (logs, routes, stats), the API's answers, or any process's command line.
    kept = b"".join(p.read_bytes() for p in (sky.skyhop_home / "services").rglob("*") if p.is_file())
    assert kept and b"s3cret-value" not in kept
    answers = sky("serve", "status", "--output", "json", check=True).out + sky("serve", "logs", "vault", "--controller", "--no-follow", check=True).out
    assert "s3cret-value" not in answers
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            assert b"s3cret-value" not in cmdline.read_bytes(), cmdline
        except OSError:
            pass  # a process that ended meanwhile


def test_a_service_whose_secret_values_are_gone_says_so_and_launches_nothing(fast, tmp_path):
    from skyhop.identity import current_user
    from skyhop.state.services import Services
    from skyhop.state.store import StateStore

    sky = fast
    sky("serve", "status", check=True)  # the server and its controller run
    task = {"resources": {"cpus": 0.25}, "secrets": {"TOKEN": REDACTED}, "run": "sleep 60",
            "service": {"readiness_probe": "/", "replicas": 1}}
    # As a server that received the values, then stopped, left it: the row, but no values anywhere.
    with StateStore(f"sqlite:///{sky.skyhop_home / 'state.db'}") as store:
        Services(store).create("orphan", task, current_user())
    row = wait_for(lambda: next((s for s in sky.json("serve", "status") if s["status"] == "CONTROLLER_FAILED"), None), 60, "CONTROLLER_FAILED")
    assert "secret(s) TOKEN" in row["status_reason"] and "skyhop serve update orphan" in row["status_reason"]
    assert row["replicas"] == [] and sky.clusters() == {}
