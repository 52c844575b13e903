"""Acceptance (issue 10, "Spheron as a plugin"): a cloud added from outside the project.

`examples/plugins/skyhop-spheron` is pip-installed (offline, as a user would
install any plugin) into a directory of its own that only the CLI and API
server subprocesses of these tests see (PYTHONPATH), so no other test finds
its entry point. It registers `spheron` through `skyhop.providers`, plans with
the `spheron` price catalog, and provisions through a replay of Spheron's
HTTP API (cloudsim/spheron_api.py) whose deployments are namespace hosts:
the job really runs over SSH on "the instance".
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cloudsim.spheron_api import SpheronReplay
from e2e.conftest import sky  # noqa: F401  (the real CLI and API server, per-test SKYHOP_HOME)
from e2e_support import pid_gone, wait_for
from helpers import REPO, SHARED_CATALOG

PLUGIN = REPO / "examples" / "plugins" / "skyhop-spheron"
TOKEN = "sph-replay-key-" + "7" * 24
GPUS = "H100_PCIE:1"
# The two cheapest regions for H100_PCIE:1 in the shared spheron catalog (2.0135 and 2.508 $/h).
FIRST, SECOND = "CANADA-1", "montreal-canada-2"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def spheron_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plugin, pip-installed into a directory only the subprocesses given it as PYTHONPATH see."""
    target = tmp_path_factory.mktemp("spheron-site")
    source = tmp_path_factory.mktemp("spheron-build") / "skyhop-spheron"  # a copy: setuptools writes build files beside the sources
    shutil.copytree(PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index", "--target", str(target), str(source)],
        check=True, capture_output=True, text=True, cwd=source.parent, timeout=300,
    )
    assert list(target.glob("skyhop_spheron-*.dist-info"))
    return target


@pytest.fixture
def spheron(cloud_farm):
    with SpheronReplay(TOKEN, SHARED_CATALOG / "spheron" / "vms.csv", cloud_farm) as replay:
        yield replay


@pytest.fixture
def sph(spheron, spheron_site, sky):  # noqa: F811  (the replay is listed first, so it outlives the teardown's `down --all`)
    sky.env.update(PYTHONPATH=str(spheron_site), SPHERON_API_KEY=TOKEN)
    (sky.skyhop_home / "config.yaml").write_text(f"spheron:\n  api_endpoint: {spheron.url}\n")
    return sky


def _nothing_left(spheron: SpheronReplay, farm) -> None:
    assert spheron.live() == []
    assert spheron.ssh_keys == {}
    assert farm.held() == {}


def test_a_job_runs_on_a_spheron_deployment_and_down_leaves_nothing(sph, spheron, cloud_farm):
    task = sph.task("t.yaml", f"resources:\n  infra: spheron/{FIRST}\n  accelerators: {GPUS}\nrun: echo \"$SKYPILOT_NODE_IPS\" > ~/spheron-ran\n")
    out = sph.json("launch", "-y", "-c", "sph", task)
    assert out["job_status"] == "SUCCEEDED", out
    (deployment,) = spheron.live()
    assert deployment["region"] == FIRST and deployment["offerId"] == out["plan"]["attempts"][-1]["instance_type"]
    assert deployment["name"].startswith("skyhop-") and deployment["name"].endswith("-0")
    host = cloud_farm.host_of(deployment["ipAddress"])
    assert host is not None
    # The job ran on the namespace host that took the deployment's address, and saw that address.
    assert (Path(host.home) / "spheron-ran").read_text().strip() == deployment["ipAddress"]
    assert spheron.paths("POST") == ["/api/ssh-keys", "/api/deployments"]
    (row,) = sph.json("status")
    assert (row["name"], row["provider"], row["region"], row["status"]) == ("sph", "spheron", FIRST, "UP")
    stopped = sph("stop", "sph", "-y")
    assert stopped.code != 0 and "cannot stop machines" in stopped.err, stopped.err
    spheron.minimum_runtime[deployment["id"]] = 12  # Spheron refuses to terminate before an offer's minimum runtime
    refused = sph("down", "-y", "sph")
    assert refused.code != 0 and "12 minute(s) remain" in refused.err and "run `skyhop down` again" in refused.err, refused.err
    assert "sph" in sph.clusters() and len(spheron.live()) == 1  # the record stays while the machine bills
    del spheron.minimum_runtime[deployment["id"]]
    sph("down", "-y", "sph", check=True)
    _nothing_left(spheron, cloud_farm)
    deletes = spheron.paths("DELETE")
    assert deletes[-2] == f"/api/deployments/{deployment['id']}" and deletes[-1].startswith("/api/ssh-keys/"), deletes


def test_a_capacity_error_fails_over_to_the_next_region(sph, spheron, cloud_farm):
    spheron.capacity_out.add(FIRST)
    out = sph.json("launch", "-y", "-c", "fo", "--infra", "spheron", "--gpus", GPUS, "true")
    attempts = out["plan"]["attempts"]
    assert [(a["infra"], a["outcome"]) for a in attempts[:1]] == [(f"spheron/{FIRST}", "failed")]
    assert attempts[0]["scope"] == "region" and "No capacity available" in attempts[0]["reason"]
    assert (attempts[-1]["infra"], attempts[-1]["outcome"]) == (f"spheron/{SECOND}", "launched")
    assert out["job_status"] == "SUCCEEDED"
    (deployment,) = spheron.live()
    assert deployment["region"] == SECOND
    assert [d["region"] for d in spheron.deployments.values()] == [SECOND]  # the refused region got nothing
    assert len(spheron.ssh_keys) == 1  # the failed attempt's key went with it
    sph("down", "-y", "fo", check=True)
    _nothing_left(spheron, cloud_farm)


def test_a_wrong_api_key_is_one_clear_paragraph_and_creates_nothing(sph, spheron, cloud_farm):
    wrong = "not-the-key-" + "3" * 20
    sph.env["SPHERON_API_KEY"] = wrong
    result = sph("launch", "-y", "-c", "bad", "--infra", "spheron", "--gpus", GPUS, "true")
    assert result.code != 0
    message = result.err.strip()
    assert "Spheron rejected the API key from $SPHERON_API_KEY" in message, message
    assert wrong not in result.err + result.out
    error = next(line for line in message.splitlines() if line.startswith("Error:"))
    assert "\n\n" not in message and not error.endswith(".."), message
    assert spheron.paths("POST") == []
    _nothing_left(spheron, cloud_farm)
    checked = {c["name"]: c for c in sph.json("check")}
    assert checked["spheron"]["enabled"] is False and "401" in checked["spheron"]["reason"]


def test_two_nodes_are_two_deployments_that_know_each_others_addresses(sph, spheron, cloud_farm):
    task = sph.task("two.yaml", (
        f"num_nodes: 2\nresources:\n  infra: spheron/{FIRST}\n  accelerators: {GPUS}\n"
        "run: echo \"$SKYPILOT_NODE_RANK $SKYPILOT_NODE_IPS\" > ~/spheron-ran\n"
    ))
    out = sph.json("launch", "-y", "-c", "two", task)
    assert out["job_status"] == "SUCCEEDED", out
    deployments = sorted(spheron.live(), key=lambda d: d["name"])
    assert [d["name"][-2:] for d in deployments] == ["-0", "-1"]
    ips = [d["ipAddress"] for d in deployments]
    for rank, ip in enumerate(ips):
        ran = (Path(cloud_farm.host_of(ip).home) / "spheron-ran").read_text().split()
        assert ran == [str(rank), *ips], ran
    sph("down", "-y", "two", check=True)
    _nothing_left(spheron, cloud_farm)


def test_a_server_killed_while_spheron_deploys_leaves_nothing_behind(sph, spheron, cloud_farm):
    spheron.booting = True  # the deployment exists but never comes up while the server lives
    client = sph.popen("launch", "-y", "-c", "crash", "--infra", f"spheron/{FIRST}", "--gpus", GPUS, "echo resumed-run")
    (first,) = wait_for(spheron.live, what="the deployment to be created")
    pid = sph.server_pid()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: pid_gone(pid), what="the server to die")
    client.communicate(timeout=60)
    assert client.returncode != 0
    spheron.booting = False
    sph("api", "start", check=True)  # the next server resumes the launch: it finds the first deployment by its name and removes it
    launch = next(r for r in sph.json("api", "status")["requests"] if r["name"] == "launch")
    resumed = sph("api", "logs", launch["request_id"], check=True)
    assert "resumed-run" in resumed.out, resumed.err
    (second,) = spheron.live()
    assert second["id"] != first["id"] and spheron.deployments[first["id"]]["status"] == "terminated"
    assert len(spheron.ssh_keys) == 1  # the first launch's key went with its deployment
    sph("down", "-y", "crash", check=True)
    _nothing_left(spheron, cloud_farm)
