"""The RunPod provider against the replay server (cloudsim/runpod_api.py): check, errors, the pod
request it sends, cleanup after failures, find/owned after a crash. No machines here: the launches
are cancelled once the pod is requested (tests/e2e/test_e2e_runpod.py runs jobs on namespace hosts)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from cloudsim.replay import configure_cloud
from cloudsim.runpod_api import NO_INSTANCES, Fault, RunPodApi

from skyhop.catalog.offer import Offer
from skyhop.providers import _owned, base, registry
from skyhop.providers.base import LaunchRequest
from skyhop.providers.errors import CLOUD, ZONE, AuthError, CapacityError, LaunchCancelled, NotSupportedError, ProviderError
from skyhop.providers.http import ApiError
from skyhop.providers.keys import user_key
from skyhop.providers.runpod import errors
from skyhop.providers.runpod.facts import pod_shape
from skyhop.providers.runpod.provider import RunPodProvider

TYPE = "1x_A100-80GB_SECURE"


@pytest.fixture
def cloud(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunPodApi]:
    server = RunPodApi()
    configure_cloud(isolated_home / ".skyhop", "runpod", server.endpoint)
    monkeypatch.setenv("RUNPOD_API_KEY", server.token)
    yield server
    server.stop()


def request(nodes: int = 1, zone: str = "US-CA-1", spot: bool = False, **extra) -> LaunchRequest:
    offer = Offer("runpod", TYPE, "A100-80GB", 1, 8, 117, "US", zone, 1.39, 1.19, 80)
    return LaunchRequest("rp", offer, nodes, spot, user="tester", launch_id="l1", owner_id=_owned.owner_id(), **extra)


def test_registered_with_its_capabilities():
    provider = registry.get("runpod")
    assert isinstance(provider, RunPodProvider) and provider.capabilities.can_stop and provider.capabilities.remote_check
    assert isinstance(provider, base.OwnedLister)


def test_check(cloud, monkeypatch, isolated_home):
    assert RunPodProvider().check().enabled
    monkeypatch.setenv("RUNPOD_API_KEY", "wrong")
    refused = RunPodProvider().check()
    assert not refused.enabled and "RunPod refused the API key (HTTP 401)" in refused.reason and "wrong" not in refused.reason
    monkeypatch.delenv("RUNPOD_API_KEY")
    assert RunPodProvider().check().reason == "no credentials (looked for $RUNPOD_API_KEY or ~/.runpod/config.toml)"
    config = isolated_home / ".runpod" / "config.toml"
    config.parent.mkdir()
    config.write_text(f'[default]\napi_key = "{cloud.token}"\n')
    assert RunPodProvider().check().enabled
    assert all(c.path == "/graphql" for c in cloud.calls())


def test_more_than_one_node_is_refused_before_anything_is_created(cloud):
    with pytest.raises(NotSupportedError, match="one pod per cluster.*2 nodes"):
        RunPodProvider().launch(request(nodes=2))
    with pytest.raises(NotSupportedError, match="no disk tiers"):
        RunPodProvider().launch(request(disk_tier="high"))
    assert cloud.calls() == []


def test_the_pod_request_carries_shape_image_disk_ports_key_and_name(cloud):
    wanted = request(image_id="docker.io/me/img:1", disk_size_gb=120, ports=("8080", "9000-9001"), cancelled=lambda: True)
    with pytest.raises(LaunchCancelled):
        RunPodProvider().launch(wanted)
    [deploy] = [c for c in cloud.calls() if "podFindAndDeployOnDemand" in c.body["query"]]
    sent = deploy.body["variables"]["input"]
    assert sent == {
        "cloudType": "SECURE", "gpuCount": 1, "gpuTypeId": "NVIDIA A100 80GB PCIe", "volumeInGb": 120, "containerDiskInGb": 20,
        "volumeMountPath": "/workspace", "minVcpuCount": 8, "minMemoryInGb": 117,
        "name": _owned.resource_name(_owned.owner_id(), "rp", limit=60), "imageName": "docker.io/me/img:1",
        "ports": "22/tcp,8080/http,9000/http,9001/http", "env": [{"key": "PUBLIC_KEY", "value": user_key().public}],
        "startSsh": True, "supportPublicIp": True, "dataCenterId": "US-CA-1",
    }
    assert cloud.live() == {}  # the cancel terminated it


def test_spot_rents_an_interruptible_pod_bidding_the_spot_price_per_gpu(cloud):
    with pytest.raises(LaunchCancelled):
        RunPodProvider().launch(request(spot=True, cancelled=lambda: True))
    [rent] = [c for c in cloud.calls() if "podRentInterruptable" in c.body["query"]]
    assert rent.body["variables"]["input"]["bidPerGpu"] == 1.19
    assert cloud.live() == {}


def test_no_capacity_in_a_data_center_is_a_zone_error_and_leaves_nothing(cloud):
    cloud.no_capacity.add("US-CA-1")
    with pytest.raises(CapacityError, match="no capacity for this pod in US-CA-1.*no longer any instances") as caught:
        RunPodProvider().launch(request())
    assert caught.value.scope == ZONE and cloud.live() == {}


@pytest.mark.parametrize("message,kind,scope", [
    (NO_INSTANCES, CapacityError, ZONE),
    ("There are not enough free GPUs on the host machine to start this pod.", CapacityError, ZONE),
    ("Unauthorized", AuthError, CLOUD),
    ("Something else went wrong", ProviderError, None),
])
def test_graphql_messages_map_to_typed_errors(message, kind, scope):
    error = errors.translate_graphql([{"message": message, "path": ["x"]}], where="US-TX-1")
    assert type(error) is kind and error.scope == scope and message in str(error)


def test_http_failures_map_to_typed_errors():
    assert isinstance(errors.translate_http(ApiError("x", status=401)), AuthError)
    assert errors.translate_http(ApiError("RunPod API could not be reached", status=0)).scope == CLOUD
    assert errors.translate_http(ApiError("x", status=502, body="bad gateway")).scope == CLOUD


def test_an_unknown_gpu_is_not_supported():
    with pytest.raises(NotSupportedError, match="GPU type"):
        pod_shape("1x_MYSTERY_SECURE")
    assert pod_shape("2x_A100-80GB_COMMUNITY").cloud_type == "COMMUNITY"


def test_find_after_a_crash_owned_and_terminate(cloud):
    from skyhop.providers.runpod.graphql import RunPodApi as Client

    client = Client.from_config()
    mine = _owned.resource_name(_owned.owner_id(), "crashed", limit=60)
    base_input = {"gpuTypeId": "NVIDIA A100 80GB PCIe", "gpuCount": 1, "dataCenterId": "US-TX-1"}
    client.deploy({**base_input, "name": mine}, spot=False, where=None)
    client.deploy({**base_input, "name": "not-skyhop"}, spot=False, where=None)
    provider = RunPodProvider()
    found = provider.find("crashed")
    assert found is not None and provider.query(found) == base.TERMINATED
    assert [(r.kind, r.cluster) for r in provider.owned()] == [("pod", "crashed")]
    provider.terminate(found)
    provider.terminate(found)  # idempotent
    assert provider.find("crashed") is None and [p["name"] for p in cloud.live().values()] == ["not-skyhop"]
    client.deploy({**base_input, "name": mine}, spot=False, where=None)
    provider.remove_owned(provider.owned())
    assert provider.owned() == []


def test_stop_is_idempotent_and_a_refusal_surfaces_as_a_clear_error(cloud):
    from skyhop.providers.runpod.graphql import RunPodApi as Client

    pod = Client.from_config().deploy({"gpuTypeId": "NVIDIA A100 80GB PCIe", "gpuCount": 1, "name": "n"}, spot=False, where=None)
    info = base.ClusterInfo("runpod", "rp", "US", "US-CA-1", (), {"runpod": {"pod_id": pod["id"], "name": "n", "gpu_count": 1}})
    cloud.fail(Fault("podStop", "Pod is locked", times=1))
    with pytest.raises(ProviderError, match="RunPod refused the request: Pod is locked"):
        RunPodProvider().stop(info)
    RunPodProvider().stop(info)
    assert RunPodProvider().query(info) == base.STOPPED
    RunPodProvider().stop(info)  # stopped already (autostop did it): nothing to ask
    assert len([c for c in cloud.calls() if "podStop" in c.body["query"]]) == 2


def test_readdress_takes_the_new_ssh_port_of_a_resumed_pod():
    """RunPod maps a resumed pod's port 22 anew: the node's SSH target follows the port, not only the host."""
    from skyhop.providers import vm

    node = base.NodeInfo(0, "10.98.0.5", "/root/.skyhop-node/rp", {"ssh": {"host": "10.98.0.5", "user": "root", "port": 22}})
    [moved] = vm.readdress([node], [vm.Machine("10.98.0.6", "10.98.0.6", "root", 40123)], internal_ips=False)
    assert (moved.ip, moved.extra["ssh"]["host"], moved.extra["ssh"]["port"]) == ("10.98.0.6", "10.98.0.6", 40123)
