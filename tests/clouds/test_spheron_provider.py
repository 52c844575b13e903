"""The Spheron plugin's provider against the replayed API, in this process: never leaking money.

What the end-to-end tests (test_spheron_plugin.py) cannot reach cheaply: a
deployment that fails or a launch cancelled while Spheron deploys (everything
made is removed), `find` after a crash (by the name marks, never another
cluster's or another installation's), the orphan listing, a terminate refused
for a minimum runtime, paginated listings, `check` saying why not, and `query`
after the provider reclaims a machine. No machines are needed (the replay runs
without a farm), so no root either. The plugin is imported from its sources:
without installed metadata it registers no entry point for other tests to see.
"""

from __future__ import annotations

import json

import pytest
from cloudsim.spheron_api import SpheronReplay
from helpers import REPO, SHARED_CATALOG

from skyhop.catalog.offer import Offer
from skyhop.errors import ConfigError
from skyhop.providers import _owned
from skyhop.providers.base import PARTIAL, RUNNING, TERMINATED, ClusterInfo, LaunchRequest, NodeInfo, Observed
from skyhop.providers.errors import CLOUD, REGION, AuthError, CapacityError, LaunchCancelled, NotSupportedError

TOKEN = "sph-unit-key-" + "5" * 20
OFFER = Offer("spheron", "n3-H100x1__CANADA-1", "H100_PCIE", 1.0, 28.0, 180.0, "CANADA-1", None, 2.0135, None, 80.0)


@pytest.fixture
def plugin(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "examples" / "plugins" / "skyhop-spheron" / "src"))
    import skyhop_spheron.api
    import skyhop_spheron.provider

    monkeypatch.setattr(skyhop_spheron.provider, "POLL_S", 0.05)
    return skyhop_spheron


@pytest.fixture
def replay(isolated_home, monkeypatch):
    with SpheronReplay(TOKEN, SHARED_CATALOG / "spheron" / "vms.csv") as server:
        (isolated_home / ".skyhop").mkdir(exist_ok=True)
        (isolated_home / ".skyhop" / "config.yaml").write_text(f"spheron:\n  api_endpoint: {server.url}\n")
        monkeypatch.setenv("SPHERON_API_KEY", TOKEN)
        yield server


def _request(cluster: str = "c1", **extra) -> LaunchRequest:
    return LaunchRequest(cluster, OFFER, 1, launch_id=_owned.new_launch_id(), owner_id=_owned.owner_id(), **extra)


def _client(plugin):
    return plugin.api.SpheronApi(plugin.api.credentials())


def _deploy(client, key: str, name: str, team: str | None = None) -> str:
    """A deployment of OFFER made straight through the API (what a launch before a crash left)."""
    body = {"provider": "spheron-ai", "offerId": OFFER.instance_type, "gpuType": "H100_PCIE", "gpuCount": 1, "region": OFFER.region,
            "operatingSystem": "ubuntu-22.04", "instanceType": "DEDICATED", "sshKeyId": key, "name": name, "teamId": team}
    return client.create(body)


def _nothing_left(replay: SpheronReplay) -> None:
    assert replay.live() == [] and replay.ssh_keys == {}


def test_a_deployment_that_fails_is_removed_with_its_key_and_blocks_the_region(plugin, replay):
    replay.failing.add("CANADA-1")
    with pytest.raises(CapacityError, match="ended 'failed'") as raised:
        plugin.provider.SpheronProvider().launch(_request())
    assert raised.value.scope == REGION
    _nothing_left(replay)
    (created,) = replay.deployments.values()
    deletes = replay.paths("DELETE")
    assert len(deletes) == 2 and deletes[0] == f"/api/deployments/{created['id']}" and deletes[1].startswith("/api/ssh-keys/"), deletes


def test_a_refused_create_removes_the_key_and_creates_nothing(plugin, replay):
    replay.capacity_out.add("CANADA-1")
    with pytest.raises(CapacityError, match="No capacity available") as raised:
        plugin.provider.SpheronProvider().launch(_request())
    assert raised.value.scope == REGION
    assert replay.deployments == {}
    _nothing_left(replay)


def test_a_cancel_while_spheron_deploys_removes_what_was_made(plugin, replay):
    replay.booting = True
    with pytest.raises(LaunchCancelled):
        plugin.provider.SpheronProvider().launch(_request(cancelled=lambda: True))
    _nothing_left(replay)


def test_find_after_a_crash_takes_only_this_clusters_resources_and_terminate_removes_them(plugin, replay):
    from skyhop_spheron import names

    owner = _owned.owner_id()
    client = _client(plugin)
    team = client.team_id()
    key = client.add_ssh_key(names.key_name(owner, "a", "aaaaaaaaaaaa"), "ssh-ed25519 AAAAkey skyhop", team)

    def deploy(name: str) -> str:
        return _deploy(client, key, name, team)

    ours = [deploy(names.deployment_name(owner, "a", "aaaaaaaaaaaa", rank)) for rank in range(2)]
    sibling = deploy(names.deployment_name(owner, "a-b", "bbbbbbbbbbbb", 0))  # cluster "a-b": never "a"'s
    foreign = deploy(names.deployment_name("fedcba9876543210", "a", "aaaaaaaaaaaa", 0))  # another installation's "a"
    users = deploy("my-notebook")  # the user's own machine

    provider = plugin.provider.SpheronProvider()
    found = provider.find("a")
    assert found is not None and found.data["spheron"]["unfinished"] is True
    assert sorted(found.data["spheron"]["deployment_ids"]) == sorted(ours)
    assert provider.query(found) == Observed(TERMINATED, "a launch that never finished: `down` removes what it left")
    provider.terminate(found)
    assert {d["id"] for d in replay.live()} == {sibling, foreign, users}
    assert replay.ssh_keys == {}  # the key named for cluster "a"
    provider.terminate(found)  # idempotent
    assert provider.find("a") is None
    orphans = provider.owned()
    assert [(o.kind, o.id, o.cluster) for o in orphans] == [("deployment", sibling, "a-b")]
    provider.remove_owned(orphans)
    assert {d["id"] for d in replay.live()} == {foreign, users}


def test_a_minimum_runtime_is_a_clear_error_and_a_second_terminate_is_fine(plugin, replay):
    from skyhop_spheron.api import MinimumRuntime

    client = _client(plugin)
    deployment = _deploy(client, client.add_ssh_key("k", "ssh-ed25519 AAAAkey", client.team_id()), "n")
    replay.minimum_runtime[deployment] = 12
    with pytest.raises(MinimumRuntime, match=r"12 minute\(s\) remain.*keeps running \(and billing\)"):
        client.terminate(deployment)
    assert len(replay.live()) == 1
    del replay.minimum_runtime[deployment]
    client.terminate(deployment)
    client.terminate(deployment)  # terminated already: 400 with currentStatus terminated, which is success
    client.terminate("dep-unknown")  # 404: gone is gone
    assert replay.live() == []


def test_listings_read_every_page(plugin, replay):
    for n in range(150):
        replay.deployments[f"dep-x{n}"] = {"id": f"dep-x{n}", "name": f"d{n}", "status": "running", "region": "CANADA-1"}
    assert len(list(_client(plugin).deployments())) == 150
    assert replay.paths("GET").count("/api/deployments") == 2


def test_query_reports_running_reclaimed_and_gone_nodes(plugin, replay):
    client = _client(plugin)
    key = client.add_ssh_key("k", "ssh-ed25519 AAAAkey", client.team_id())
    ids = [_deploy(client, key, f"n{r}") for r in range(2)]
    for i in ids:
        client.deployment(i)  # booted
    nodes = tuple(NodeInfo(r, "192.0.2.1", "/b", {"spheron": {"deployment_id": i, "name": f"n{r}"}}) for r, i in enumerate(ids))
    cluster = ClusterInfo("spheron", "q", "CANADA-1", None, nodes, {"spheron": {"launch_id": "x", "deployment_ids": ids}})
    provider = plugin.provider.SpheronProvider()
    assert provider.query(cluster) == RUNNING
    replay.reclaim(ids[1])
    observed = provider.query(cluster)
    assert observed.state == PARTIAL and "node 1: preempted (Spheron's provider took the machine back)" in observed.reason
    client.terminate(ids[0])
    replay.deployments[ids[1]]["status"] = "terminated"
    assert provider.query(cluster) == TERMINATED


def test_an_image_disk_or_ports_are_refused_before_anything_is_created(plugin, replay):
    for extra in ({"image_id": "ubuntu-24.04"}, {"disk_size_gb": 500}, {"ports": ("8080",)}):
        with pytest.raises(NotSupportedError, match="remove (image_id|disk_size|ports) to use Spheron"):
            plugin.provider.SpheronProvider().launch(_request(**extra))
    assert replay.calls == []


def test_stop_and_start_are_refused_clearly(plugin):
    provider = plugin.provider.SpheronProvider()
    assert provider.capabilities.can_stop is False and provider.capabilities.remote_check is True
    with pytest.raises(NotSupportedError, match="only terminated"):
        provider.stop(ClusterInfo("spheron", "s", None, None, ()))
    with pytest.raises(NotSupportedError):
        provider.start(ClusterInfo("spheron", "s", None, None, ()))


def test_check_says_why_not(plugin, replay, isolated_home, monkeypatch):
    provider = plugin.provider.SpheronProvider()
    assert provider.check().enabled
    monkeypatch.setenv("SPHERON_API_KEY", "wrong-" + "9" * 16)
    rejected = provider.check()
    assert not rejected.enabled and "401" in rejected.reason and "$SPHERON_API_KEY" in rejected.reason and "9999" not in rejected.reason
    monkeypatch.delenv("SPHERON_API_KEY")
    missing = provider.check()
    assert not missing.enabled and "$SPHERON_API_KEY" in missing.reason and "~/.spheron/config.json" in missing.reason
    with pytest.raises(AuthError, match="No Spheron API key") as raised:
        provider.launch(_request())
    assert raised.value.scope == CLOUD
    keyfile = isolated_home / ".spheron" / "config.json"
    keyfile.parent.mkdir()
    keyfile.write_text("{not json")
    assert "not readable JSON" in provider.check().reason
    keyfile.write_text(json.dumps({"api_key": TOKEN}))
    assert provider.check().reason == "API key from ~/.spheron/config.json accepted"


def test_config_takes_a_section_named_after_a_cloud_and_still_refuses_typos(isolated_home):
    from skyhop.config import cloud_section, load_config

    config = isolated_home / ".skyhop" / "config.yaml"
    config.parent.mkdir()
    config.write_text("spheron:\n  api_endpoint: http://127.0.0.1:9\n")
    assert cloud_section("spheron") == {"api_endpoint": "http://127.0.0.1:9"} and cloud_section("aws") == {}
    config.write_text("spheronn:\n  api_endpoint: x\n")
    with pytest.raises(ConfigError, match="unknown section 'spheronn'"):
        load_config()
    config.write_text("AWS:\n  api_endpoint: x\n")  # only the canonical name is ever read
    with pytest.raises(ConfigError, match="unknown section 'AWS'"):
        load_config()
    config.write_text("spheron: 3\n")
    with pytest.raises(ConfigError, match="'spheron' must be a mapping"):
        cloud_section("spheron")
