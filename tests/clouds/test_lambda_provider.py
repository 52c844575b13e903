"""The Lambda provider against the replay server (cloudsim/lambda_api.py): check, errors, naming,
cleanup after failures, find/owned after a crash. No machines: the launches here fail before SSH,
or the tests stop at the API (tests/e2e/test_e2e_lambda.py runs jobs on namespace hosts)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from cloudsim.lambda_api import CAPACITY, Fault, LambdaApi
from cloudsim.replay import configure_cloud

from skyhop.catalog.offer import Offer
from skyhop.errors import ConfigError
from skyhop.providers import _owned, base, registry
from skyhop.providers.base import LaunchRequest
from skyhop.providers.errors import CLOUD, REGION, AuthError, CapacityError, NotSupportedError, QuotaError
from skyhop.providers.http import ApiError
from skyhop.providers.lambda_ import errors
from skyhop.providers.lambda_.provider import LambdaProvider

TYPE = "gpu_1x_a10"


@pytest.fixture
def cloud(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LambdaApi]:
    server = LambdaApi()
    configure_cloud(isolated_home / ".skyhop", "lambda", server.endpoint)
    monkeypatch.setenv("LAMBDA_API_KEY", server.token)
    yield server
    server.stop()


def offer(region: str = "us-east-1") -> Offer:
    return Offer("lambda", TYPE, "A10", 1, 30, 200, region, None, 0.75, None, None)


def request(cluster: str = "lc", region: str = "us-east-1", nodes: int = 1) -> LaunchRequest:
    return LaunchRequest(cluster, offer(region), nodes, user="tester", launch_id="abc123", owner_id=_owned.owner_id())


def test_registered_with_its_capabilities():
    provider = registry.get("lambda")
    assert isinstance(provider, LambdaProvider)
    assert not provider.capabilities.can_stop and provider.capabilities.remote_check
    assert isinstance(provider, base.OwnedLister) and isinstance(provider, base.LiveAvailability)


def test_check_lists_instance_types_with_the_key_in_a_header_only(cloud):
    result = LambdaProvider().check()
    assert result.enabled, result.reason
    assert [c.path for c in cloud.calls()] == ["/api/v1/instance-types"]


def test_check_says_why_a_wrong_key_is_refused(cloud, monkeypatch):
    monkeypatch.setenv("LAMBDA_API_KEY", "wrong-key")
    result = LambdaProvider().check()
    assert not result.enabled
    assert "refused the API key" in result.reason and "global/invalid-api-key" in result.reason
    assert "wrong-key" not in result.reason


def test_check_without_a_key_names_where_it_looks(cloud, monkeypatch):
    monkeypatch.delenv("LAMBDA_API_KEY")
    result = LambdaProvider().check()
    assert not result.enabled and result.reason == "no credentials (looked for $LAMBDA_API_KEY or ~/.lambda_cloud/lambda_keys)"
    assert not cloud.calls()


def test_the_key_file_is_read(cloud, monkeypatch, isolated_home):
    monkeypatch.delenv("LAMBDA_API_KEY")
    keys = isolated_home / ".lambda_cloud" / "lambda_keys"
    keys.parent.mkdir()
    keys.write_text(f"# Lambda Cloud\napi_key = {cloud.token}\n")
    assert LambdaProvider().check().enabled


def test_a_key_file_that_is_not_text_is_no_key_not_a_crash(cloud, monkeypatch, isolated_home):
    """A binary ~/.lambda_cloud/lambda_keys made `skyhop check` a 500 (UnicodeDecodeError)."""
    monkeypatch.delenv("LAMBDA_API_KEY")
    keys = isolated_home / ".lambda_cloud" / "lambda_keys"
    keys.parent.mkdir()
    keys.write_bytes(b"\xff\xfe api_key = x\n")
    result = LambdaProvider().check()
    assert not result.enabled and "No Lambda Cloud API key" in result.reason, result.reason


def test_a_typo_in_the_config_section_is_named(cloud, isolated_home):
    (isolated_home / ".skyhop" / "config.yaml").write_text("lambda:\n  api_endpont: http://x\n")
    with pytest.raises(ConfigError, match="lambda.api_endpont.*api_endpoint"):
        LambdaProvider().check()


@pytest.mark.parametrize("endpoint", ["http://cloud.lambdalabs.com/api/v1", "http://8.8.8.8/api", "http://[2001:4860::8888]/"])
def test_plain_http_to_a_public_endpoint_is_refused(cloud, isolated_home, endpoint):
    """The API key travels as a bearer token: plain http is allowed only inside the network (loopback, private)."""
    (isolated_home / ".skyhop" / "config.yaml").write_text(f"lambda:\n  api_endpoint: '{endpoint}'\n")
    with pytest.raises(ConfigError, match="plain http to a public address"):
        LambdaProvider().check()


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:9", "http://localhost:9", "http://10.1.2.3:8080", "https://cloud.lambdalabs.com/api/v1"])
def test_https_or_http_inside_the_network_is_accepted(endpoint, isolated_home):
    from skyhop.providers.settings import cloud_settings

    (isolated_home / ".skyhop").mkdir(exist_ok=True)
    (isolated_home / ".skyhop" / "config.yaml").write_text(f"lambda:\n  api_endpoint: '{endpoint}'\n")
    assert cloud_settings("lambda", default_endpoint="https://x", default_user="ubuntu").api_endpoint == endpoint


@pytest.mark.parametrize("status,code,kind,scope", [
    (400, CAPACITY[0], CapacityError, REGION),
    (400, "global/quota-exceeded", QuotaError, CLOUD),
    (401, "global/invalid-api-key", AuthError, CLOUD),
    (403, "global/account-inactive", AuthError, CLOUD),
    (400, "global/invalid-parameters", NotSupportedError, "instance"),
    (503, "", type(None), CLOUD),
])
def test_error_codes_map_to_typed_errors_with_a_scope(status, code, kind, scope):
    body = {"error": {"code": code, "message": "Some words.", "suggestion": "Try this."}} if code else "<html>bad gateway</html>"
    error = errors.translate(ApiError("x", status=status, body=body), region="us-west-1")
    if kind is not type(None):
        assert type(error) is kind
    assert error.scope == scope
    if code:
        assert code in str(error) and "Try this." in str(error)


def test_capacity_in_a_region_removes_the_key_it_registered(cloud):
    cloud.no_capacity.add("us-east-1")
    with pytest.raises(CapacityError, match="no capacity.*us-east-1") as caught:
        LambdaProvider().launch(request())
    assert caught.value.scope == REGION
    assert cloud.live() == {} and cloud.keys == {}
    launch = cloud.calls("POST", "/api/v1/instance-operations/launch")[0]
    name = _owned.resource_name(_owned.owner_id(), "lc", limit=60)
    assert launch.body == {"region_name": "us-east-1", "instance_type_name": TYPE, "ssh_key_names": [name], "quantity": 1, "name": name}
    assert launch.status == 400


def test_quota_blocks_the_cloud_and_leaves_nothing(cloud):
    cloud.fail(Fault("launch", "global/quota-exceeded", "Quota exceeded.", times=1))
    with pytest.raises(QuotaError) as caught:
        LambdaProvider().launch(request())
    assert caught.value.scope == CLOUD and cloud.live() == {} and cloud.keys == {}


def test_a_boot_that_fails_terminates_what_was_launched(cloud, monkeypatch):
    original = cloud._observed

    def unhealthy(iid):
        cloud.instances[iid]["status"] = "unhealthy"
        return original(iid)

    monkeypatch.setattr(cloud, "_observed", unhealthy)
    with pytest.raises(CapacityError, match="could not boot"):
        LambdaProvider().launch(request(nodes=2))
    assert cloud.live() == {} and cloud.keys == {}
    terminated = cloud.calls("POST", "/api/v1/instance-operations/terminate")
    assert len(terminated) == 1 and len(terminated[0].body["instance_ids"]) == 2


def test_a_cancel_while_booting_terminates_them(cloud):
    cloud.boot_polls = 10**6
    cancelled = LaunchRequest("lc", offer(), 1, user="u", launch_id="l", owner_id=_owned.owner_id(), cancelled=lambda: True)
    from skyhop.providers.errors import LaunchCancelled

    with pytest.raises(LaunchCancelled):
        LambdaProvider().launch(cancelled)
    assert cloud.live() == {} and cloud.keys == {}


def test_find_after_a_crash_reports_terminated_and_down_removes_all(cloud):
    """A launch that died between the API call and the record: find() by name, then terminate."""
    from skyhop.providers.lambda_.api import LambdaApi as Client

    provider = LambdaProvider()
    name = _owned.resource_name(_owned.owner_id(), "crashed", limit=60)
    client = Client.from_config()
    client.add_ssh_key(name, "ssh-ed25519 AAAA crashed")
    client.launch("us-east-1", TYPE, name, 2, name)
    found = provider.find("crashed")
    assert found is not None and found.region == "us-east-1" and found.nodes == ()
    assert provider.query(found) == base.TERMINATED
    assert {r.cluster for r in provider.owned()} == {"crashed"} and len(provider.owned()) == 3
    provider.terminate(found)
    provider.terminate(found)  # idempotent
    assert cloud.live() == {} and cloud.keys == {} and provider.find("crashed") is None
    assert provider.find("never-launched") is None


def test_owned_lists_only_this_installations_marks_and_removes_them(cloud):
    from skyhop.providers.lambda_.api import LambdaApi as Client

    client = Client.from_config()
    client.add_ssh_key("someone-elses-key", "ssh-ed25519 AAAA other")
    mine = _owned.resource_name(_owned.owner_id(), "orphan", limit=60)
    client.add_ssh_key(mine, "ssh-ed25519 AAAA mine")
    client.launch("us-west-1", TYPE, mine, 1, mine)
    client.launch("us-west-1", TYPE, "someone-elses-key", 1, "not-skyhop")
    owned = LambdaProvider().owned()
    assert sorted(r.kind for r in owned) == ["instance", "ssh-key"] and {r.cluster for r in owned} == {"orphan"}
    LambdaProvider().remove_owned(owned)
    assert [i["name"] for i in cloud.live().values()] == ["not-skyhop"]
    assert [k["name"] for k in cloud.keys.values()] == ["someone-elses-key"]


def test_stop_and_start_are_refused_clearly(cloud):
    info = base.ClusterInfo("lambda", "lc", "us-east-1", None, (), {"lambda": {"region": "us-east-1", "name": "n"}})
    for verb in (LambdaProvider().stop, LambdaProvider().start):
        with pytest.raises(NotSupportedError, match="Lambda Cloud cannot stop instances; use `skyhop down`"):
            verb(info)


def test_availability_follows_regions_with_capacity(cloud):
    cloud.no_capacity.add("us-east-1")
    available = LambdaProvider().availability()
    assert available[(TYPE, "us-west-1")] is True
    assert (TYPE, "us-east-1") not in available


def test_a_cleanup_that_fails_keeps_the_error_type_and_names_what_is_left(cloud):
    """Credentials that stop working mid-launch: the launch's own error (and its scope) stays, the
    message names what may be left, and owned() finds it once the API answers again."""
    cloud.no_capacity.add("us-east-1")
    cloud.fail(Fault("instances", "global/invalid-api-key", "API key was invalid, expired, or deleted.", status=401))
    with pytest.raises(CapacityError, match="no capacity.*failed as well.*refused the API key.*SSH key named 'skyhop-") as caught:
        LambdaProvider().launch(request())
    assert caught.value.scope == REGION
    cloud.faults.clear()
    assert [(r.kind, r.cluster) for r in LambdaProvider().owned()] == [("ssh-key", "lc")]


def test_machine_choices_lambda_cannot_honour_are_refused_before_any_call(cloud):
    for extra in ({"image_id": "ubuntu-22.04"}, {"disk_size_gb": 500}, {"ports": ("8080",)}):
        with pytest.raises(NotSupportedError, match="cannot set .* on Lambda Cloud"):
            LambdaProvider().launch(LaunchRequest("lc", offer(), 1, user="u", launch_id="l", owner_id=_owned.owner_id(), **extra))
    assert cloud.calls() == []
