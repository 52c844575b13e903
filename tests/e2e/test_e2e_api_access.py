"""`api_server_access: true` on a single-user server: the job talks to the server that launched it, as its owner."""

from __future__ import annotations

import json
import stat
import sys

NESTING = """\
api_server_access: true
envs:
  PY: {python}
run: |
  test -n "$SKYPILOT_API_SERVER_ENDPOINT" && test "$SKYPILOT_API_SERVER_ENDPOINT" = "$SKYHOP_API_SERVER_URL" && echo endpoint-given
  "$PY" -m skyhop.cli.main status --output json > {out}/status.json
  "$PY" -m skyhop.cli.main launch -y -c nested "echo nested-ran"
"""


def test_a_job_lists_and_launches_through_the_server_as_its_owner(sky, tmp_path):
    task = sky.task("nest.yaml", NESTING.format(python=sys.executable, out=tmp_path))
    launched = sky("launch", "-y", "-c", "parent", task)
    assert launched.code == 0, launched.out + launched.err
    assert "endpoint-given" in launched.out and "nested-ran" in launched.out
    seen_inside = {c["name"]: c for c in json.loads((tmp_path / "status.json").read_text())}
    assert "parent" in seen_inside, "the job saw its own cluster through the server"
    clusters = sky.clusters()
    assert set(clusters) == {"parent", "nested"}
    assert clusters["nested"]["user"] == clusters["parent"]["user"] == seen_inside["parent"]["user"]
    token = json.loads((sky.skyhop_home / "api" / "server.json").read_text())["token"].encode()
    holding = [p for p in (sky.skyhop_home / "clusters" / "parent").rglob("*") if p.is_file() and token in p.read_bytes()]
    assert holding, "the agent keeps the job's environment (its job table)"
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in holding), [(p, oct(p.stat().st_mode)) for p in holding]
    sky("down", "-y", "parent", "nested", check=True)
    assert sky.clusters() == {}


def test_services_and_pools_refuse_it_when_made(sky):
    task = sky.task("svc.yaml", "api_server_access: true\nservice: {readiness_probe: /, replicas: 1}\nrun: echo hi\n")
    refused = sky("serve", "up", "-y", "-n", "svc", task)
    assert refused.code != 0 and "not supported for services yet" in refused.err
    pool = sky.task("pool.yaml", "api_server_access: true\npool: {workers: 1}\nrun: echo hi\n")
    refused = sky("jobs", "pool", "apply", "-y", "-p", "p1", pool)
    assert refused.code != 0 and "not supported for pools yet" in refused.err
