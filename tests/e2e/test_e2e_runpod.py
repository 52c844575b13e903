"""RunPod end to end: the real CLI and API server, the provider's real GraphQL calls to the replay
server (cloudsim/runpod_api.py), and namespace hosts that take on the pods' addresses, so the job
really runs over SSH "in the pod". Offers come from real RunPod catalog rows
(tests/catalog/fixtures/runpod, SOURCE.md there), since ../shared has no RunPod catalog."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cloudsim.replay import assert_secret_nowhere, configure_cloud
from cloudsim.runpod_api import Fault, RunPodApi
from e2e_support import wait_for
from helpers import REPO, SHARED_CATALOG

pytestmark = pytest.mark.slow

GPUS = ("--infra", "runpod", "--gpus", "A100-80GB:1")


@pytest.fixture(scope="module")
def runpod_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("catalog-with-runpod")
    for cloud in sorted(p for p in SHARED_CATALOG.iterdir() if p.is_dir()):
        (root / cloud.name).symlink_to(cloud, target_is_directory=True)
    (root / "runpod").symlink_to(REPO / "tests" / "catalog" / "fixtures" / "runpod", target_is_directory=True)
    return root


@pytest.fixture
def runpod_cloud(cloud_farm, sky, runpod_catalog):
    server = RunPodApi(adopter=cloud_farm, host=f"{cloud_farm.prefix}.1")
    configure_cloud(sky.skyhop_home, "runpod", server.endpoint)
    sky.env.update(RUNPOD_API_KEY=server.token, SKYHOP_CATALOG_DIR=str(runpod_catalog))
    try:
        yield server
        sky.teardown()
        assert_secret_nowhere(sky.skyhop_home, server.token)
        assert server.live() == {}, "down left pods in the account"
        assert cloud_farm.held() == {}
    finally:
        for pod in server.pods.values():  # a failed test must not strand the farm's hosts
            cloud_farm.release(pod["_ip"])
        server.stop()


def deploys(server: RunPodApi, operation: str) -> list[dict]:
    return [c.body["variables"]["input"] for c in server.calls() if operation in c.body["query"]]


def test_launch_stop_start_down(sky, runpod_cloud):
    result = sky("launch", "-y", "-c", "rp", *GPUS, "echo in-pod $(id -un) $SKYPILOT_NODE_IPS", timeout=300)
    assert result.code == 0, result.out + result.err
    [pod] = runpod_cloud.live().values()
    assert f"in-pod root {pod['runtime']['ports'][0]['ip']}" in result.out  # SSH at the pod's mapped port 22
    [sent] = deploys(runpod_cloud, "podFindAndDeployOnDemand")
    assert sent["gpuTypeId"] == "NVIDIA A100 80GB PCIe" and sent["ports"] == "22/tcp" and "bidPerGpu" not in sent

    assert sky("stop", "-y", "rp", timeout=120).code == 0
    assert sky.clusters()["rp"]["status"] == "STOPPED" and runpod_cloud.live()[pod["id"]]["desiredStatus"] == "EXITED"
    assert sky("start", "-y", "rp", timeout=300).code == 0
    assert runpod_cloud.live()[pod["id"]]["desiredStatus"] == "RUNNING"
    again = sky("exec", "rp", "echo after-resume", timeout=120)
    assert again.code == 0 and "after-resume" in again.out
    resumed = [c for c in runpod_cloud.calls() if "podResume" in c.body["query"]]
    assert [c.body["variables"]["input"] for c in resumed] == [{"podId": pod["id"], "gpuCount": 1}]

    assert sky("down", "-y", "rp", timeout=120).code == 0
    assert runpod_cloud.live() == {} and sky.json("status") == []


def test_spot_capacity_failover_and_multi_node_refusal(sky, runpod_cloud):
    first = sky.json("optimize", *GPUS, "--use-spot")["zone"]
    runpod_cloud.no_capacity.add(first)
    plan = sky.json("launch", "-y", "-c", "rs", *GPUS, "--use-spot", "echo spot-ran")["plan"]
    failed, launched = plan["attempts"]
    assert failed["outcome"] == "failed" and failed["scope"] == "zone" and first in failed["infra"]
    assert "no longer any instances available" in failed["reason"]
    assert launched["outcome"] == "launched" and launched["infra"] != failed["infra"]
    rented = deploys(runpod_cloud, "podRentInterruptable")
    assert [r["dataCenterId"] for r in rented][0] == first and rented[-1]["bidPerGpu"] == 1.39
    assert sky("down", "-y", "rs", timeout=120).code == 0

    two = sky("launch", "-y", "-c", "r2", "--num-nodes", "2", *GPUS, "echo never", "--output", "json", timeout=120)
    assert two.code == 1 and "Traceback" not in two.err
    # Planning keeps a 2-node task off RunPod (Capabilities.max_nodes=1): refused before any deploy.
    assert "more than runpod can put in one cluster (at most 1)" in two.err, two.err
    assert deploys(runpod_cloud, "podFindAndDeployOnDemand") == [] and runpod_cloud.live() == {}

    # A key refused when deploying: the whole cloud is blocked (one attempt), in one paragraph.
    runpod_cloud.fail(Fault("podFindAndDeployOnDemand", "Unauthorized"))
    refused = sky("launch", "-y", "-c", "ra", *GPUS, "echo never", "--output", "json", timeout=120)
    attempts = json.loads(refused.out)["attempts"]
    assert refused.code == 1 and len(attempts) == 1 and attempts[0]["scope"] == "cloud"
    assert "RunPod refused the API key" in attempts[0]["reason"] and runpod_cloud.live() == {}


def test_autostop_the_pod_stops_itself_then_down_removes_it(sky, runpod_cloud):
    """With no client around, the pod's agent runs the stop hook (podStop with the key from its 0600 file)."""
    sky("launch", "-y", "-c", "ra", *GPUS, "-i", "0.05", "echo idle-soon", check=True, timeout=300)
    [pod_id] = runpod_cloud.live()
    stops = wait_for(lambda: [c.body["variables"]["input"] for c in runpod_cloud.calls() if "podStop" in c.body["query"]],
                     timeout=180, what="the pod to stop itself")  # logged once answered: the pod is EXITED by then
    assert stops == [{"podId": pod_id}] and runpod_cloud.live()[pod_id]["desiredStatus"] == "EXITED"
    assert next(c for c in sky.json("status", "--refresh") if c["name"] == "ra")["status"] == "STOPPED"
    assert sky("down", "-y", "ra", timeout=120).code == 0 and runpod_cloud.live() == {}
