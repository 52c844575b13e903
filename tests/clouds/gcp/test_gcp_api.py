"""The GCP provider against the replay server, without machines behind it: tokens, checks, failures, cleanup."""

from __future__ import annotations

import json

import pytest
from cloudsim.gcp_api import Rule

from skyhop.catalog.offer import Offer
from skyhop.providers import _owned
from skyhop.providers.base import LaunchRequest
from skyhop.providers.errors import CLOUD, ZONE, AuthError, CapacityError, LaunchCancelled, NotSupportedError, QuotaError
from skyhop.providers.gcp import instances
from skyhop.providers.gcp.provider import GCPProvider
from skyhop.providers.gcp.settings import Settings

ZONE_A = "us-central1-a"


def offer(instance_type: str = "n1-standard-2", accelerator: str | None = None, count: float = 0, zone: str = ZONE_A) -> Offer:
    return Offer("gcp", instance_type, accelerator, count, 2.0, 7.5, zone.rsplit("-", 1)[0], zone, 0.1, 0.03, None)


def request(the_offer: Offer, nodes: int = 1, **extra) -> LaunchRequest:
    return LaunchRequest("c1", the_offer, nodes, user="alice", launch_id="abc123", owner_id=_owned.owner_id(), **extra)


def test_check_gets_a_token_and_reads_the_project(gcp_api):
    result = GCPProvider().check()
    assert result.enabled, result.reason
    assert "skyhop-test-project" in result.reason
    assert [c.verb for c in gcp_api.calls()] == ["token", "project"]


def test_check_says_why_without_credentials(gcp_api, monkeypatch):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS")
    result = GCPProvider().check()
    assert not result.enabled and "GOOGLE_APPLICATION_CREDENTIALS" in result.reason
    assert gcp_api.calls() == []


def test_a_key_the_token_endpoint_refuses_is_an_auth_failure(gcp_api, tmp_path, monkeypatch):
    from cloudsim.gcp_api import service_account

    other = tmp_path / "other.json"
    service_account(other, "skyhop-test-project", gcp_api.token_uri)  # a key the server does not know
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(other))
    result = GCPProvider().check()
    assert not result.enabled and "did not grant a token" in result.reason and "invalid_grant" in result.reason
    assert "PRIVATE KEY" not in result.reason


@pytest.mark.parametrize("content", ["[1]", '"a string"'])
def test_a_key_file_of_the_wrong_shape_is_an_auth_failure(gcp_api, tmp_path, monkeypatch, content):
    """A credentials file holding JSON that is not an object made `skyhop check` a 500 (AttributeError in google-auth)."""
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(bad))
    result = GCPProvider().check()
    assert not result.enabled and "cannot be used" in result.reason


def test_a_revoked_token_is_renewed_once(gcp_api):
    provider = GCPProvider()
    assert provider.check().enabled
    gcp_api.revoke_tokens()
    assert provider.check().enabled
    assert [c.verb for c in gcp_api.calls()] == ["token", "project", "project", "token", "project"]


def test_refused_credentials_block_the_cloud(gcp_api):
    gcp_api.add(Rule("insert", http_status=401))
    with pytest.raises(AuthError) as failed:
        GCPProvider().launch(request(offer()))
    assert failed.value.scope == CLOUD and "401" in str(failed.value)
    assert gcp_api.instances == {}


def test_an_exhausted_zone_is_capacity_and_leaves_nothing(gcp_api):
    gcp_api.add(Rule("insert", zone=ZONE_A, operation_error="ZONE_RESOURCE_POOL_EXHAUSTED"))
    with pytest.raises(CapacityError) as failed:
        GCPProvider().launch(request(offer(), nodes=2))
    assert failed.value.scope == ZONE and ZONE_A in str(failed.value)
    assert gcp_api.instances == {} and gcp_api.firewalls == {}
    assert [c.verb for c in gcp_api.calls("insert")] == ["insert", "insert"]
    # Both inserted names were deleted (idempotently: they never came to exist).
    assert len(gcp_api.calls("delete")) == 2


def test_a_quota_in_the_second_insert_removes_the_first_instance(gcp_api):
    gcp_api.add(Rule("insert", operation_error="QUOTA_EXCEEDED", quota_metric="NVIDIA_T4_GPUS", times=1))
    with pytest.raises(QuotaError):
        GCPProvider().launch(request(offer("n1-highmem-4", "T4", 1), nodes=2))
    assert gcp_api.instances == {}
    assert len(gcp_api.calls("delete")) == 2


def test_tpus_are_refused_before_any_call(gcp_api):
    with pytest.raises(NotSupportedError, match="Cloud TPU"):
        GCPProvider().launch(request(offer("TPU-VM", "tpu-v5litepod-8", 1)))
    assert gcp_api.calls() == []


def test_an_unknown_zone_is_one_clear_error(gcp_api):
    with pytest.raises(Exception) as failed:
        GCPProvider().launch(request(offer(zone="mars-north1-z1")))
    assert "mars-north1-z1" in str(failed.value) and "404" in str(failed.value)
    assert gcp_api.instances == {}


def test_the_insert_body_for_a_spot_t4_on_n1():
    req = request(offer("n1-highmem-4", "T4", 2), use_spot=True, disk_size_gb=100, disk_tier="high", labels={"Team": "ML Ops"})
    body = instances.insert_body(req, "skyhop-x-c1-0", ZONE_A, Settings(use_internal_ips=True, ssh_user="gcpuser"), "ssh-ed25519 AAAAC3Nz skyhop")
    assert body["guestAccelerators"] == [{"acceleratorType": f"zones/{ZONE_A}/acceleratorTypes/nvidia-tesla-t4", "acceleratorCount": 2}]
    assert body["scheduling"] == {"provisioningModel": "SPOT", "instanceTerminationAction": "STOP", "onHostMaintenance": "TERMINATE", "automaticRestart": False}
    assert body["disks"][0]["initializeParams"]["diskSizeGb"] == "100" and body["disks"][0]["initializeParams"]["diskType"].endswith("/pd-ssd")
    assert body["metadata"]["items"] == [{"key": "ssh-keys", "value": "gcpuser:ssh-ed25519 AAAAC3Nz skyhop"}]
    assert "accessConfigs" not in body["networkInterfaces"][0]
    assert body["labels"]["team"] == "ml-ops" and body["labels"]["skyhop-cluster"] == "c1" and body["labels"]["skyhop-launch"] == "abc123"
    json.dumps(body)


def test_gpus_that_come_with_their_machine_are_not_attached():
    body = instances.insert_body(request(offer("a2-highgpu-1g", "A100", 1)), "n", ZONE_A, Settings(), "ssh-ed25519 AAAA skyhop")
    assert "guestAccelerators" not in body and body["scheduling"]["onHostMaintenance"] == "TERMINATE"
    assert body["networkInterfaces"][0]["accessConfigs"][0]["type"] == "ONE_TO_ONE_NAT"


def test_labels_follow_gcp_rules():
    req = LaunchRequest("My_Cluster.v2", offer(), 1, user="Bob.Smith@corp", launch_id="x", owner_id="0123456789abcdef", labels={"9bad": "x", "k" * 70: "v" * 70})
    labels = instances.labels(req)
    assert labels["skyhop-cluster"] == "my_cluster-v2" and labels["skyhop-user"] == "bob-smith-corp"
    assert "9bad" not in labels and all(len(k) <= 63 and len(v) <= 63 for k, v in labels.items())
    assert instances.instance_name("0123456789abcdef", "My_Cluster.v2", 0) == "skyhop-01234567-my-cluster-v2-0"


def test_a_cancel_during_the_insert_removes_the_instance(gcp_api):
    with pytest.raises(LaunchCancelled):
        GCPProvider().launch(request(offer(), cancelled=lambda: True))
    assert gcp_api.instances == {}
    assert [c.verb for c in gcp_api.calls() if c.verb in ("insert", "delete")] == ["insert", "delete"]


def inserted_by_a_crashed_launch(cluster: str, nodes: int, owner: str, zone: str = ZONE_A, rank: int = 0) -> None:
    """What a server killed right after its inserts leaves: instances with the launch's labels and no record."""
    provider = GCPProvider()
    compute, settings = provider._compute()
    req = LaunchRequest(cluster, offer(zone=zone), nodes, user="alice", launch_id="dead01", owner_id=owner)
    for index in range(rank, rank + nodes):
        name = instances.instance_name(owner, cluster, index)
        compute.call("POST", f"zones/{zone}/instances", instances.insert_body(req, name, zone, settings, "ssh-ed25519 AAAA skyhop"))


def test_find_recovers_a_crashed_launch_by_its_labels_and_down_removes_it(gcp_api):
    inserted_by_a_crashed_launch("c1", 2, _owned.owner_id())
    inserted_by_a_crashed_launch("c1", 1, _owned.owner_id(), zone="europe-west4-b", rank=7)  # an earlier attempt's leftover
    inserted_by_a_crashed_launch("c1", 1, "f" * 16)  # another installation's cluster of the same name
    provider = GCPProvider()
    found = provider.find("c1")
    assert found is not None and found.zone == ZONE_A and found.data["gcp"]["unfinished"]
    mine = [instances.instance_name(_owned.owner_id(), "c1", r) for r in (0, 1, 7)]
    assert sorted(found.data["gcp"]["instances"]) == mine
    assert provider.query(found).state == "TERMINATED"
    provider.terminate(found)
    assert [name for _zone, name in gcp_api.instances] == [instances.instance_name("f" * 16, "c1", 0)]
    assert provider.find("c1") is None
    provider.terminate(found)  # idempotent


def test_owned_lists_instances_and_firewall_rules_and_removes_them(gcp_api):
    from skyhop.providers.gcp import inventory
    from skyhop.providers.gcp.facts import GcpCluster

    owner = _owned.owner_id()
    inserted_by_a_crashed_launch("orphan", 1, owner)
    inserted_by_a_crashed_launch("theirs", 1, "f" * 16)
    provider = GCPProvider()
    compute, _ = provider._compute()
    facts = GcpCluster(compute.project, ZONE_A, (), instances.network_tag(owner, "orphan"), instances.firewall_name(owner, "orphan"))
    inventory.open_ports(compute, facts, "default", "orphan", ["8080"])
    inventory.open_ports(compute, facts, "default", "orphan", ["9000-9010"])
    assert gcp_api.firewalls[facts.firewall]["allowed"] == [{"IPProtocol": "tcp", "ports": ["8080", "9000-9010"]}]
    owned = provider.owned()
    assert sorted((r.kind, r.id, r.region, r.cluster) for r in owned) == [
        ("firewall", facts.firewall, None, "orphan"),
        ("instance", instances.instance_name(owner, "orphan", 0), ZONE_A, "orphan"),
    ]
    provider.remove_owned(owned)
    assert gcp_api.firewalls == {} and [name for _zone, name in gcp_api.instances] == [instances.instance_name("f" * 16, "theirs", 0)]
    assert provider.owned() == []


def test_an_operation_that_never_ends_gives_up_at_the_deadline(gcp_api):
    from skyhop.providers.errors import ProviderError

    compute, _ = GCPProvider()._compute()
    running = {"kind": "compute#operation", "name": "operation-x", "zone": f"zones/{ZONE_A}", "status": "RUNNING", "operationType": "insert",
               "targetLink": f"https://www.googleapis.com/compute/v1/projects/p/zones/{ZONE_A}/instances/vm-1"}
    with pytest.raises(ProviderError, match="did not finish insert on vm-1 within 0 s") as failed:
        compute.wait(running, zone=ZONE_A, deadline_s=0)
    assert failed.value.scope == "region"


def write_settings(gcp_api, **settings) -> None:
    import yaml

    from skyhop import paths

    base = {"compute_endpoint": gcp_api.compute_endpoint, "use_internal_ips": True, "ssh_user": "root"}
    paths.config_file().write_text(yaml.safe_dump({"gcp": {**base, **settings}}))


def test_project_id_in_config_wins_over_the_credentials(gcp_api):
    write_settings(gcp_api, project_id="another-project")
    result = GCPProvider().check()
    assert not result.enabled and "404" in result.reason and "projects/another-project" in result.reason


@pytest.mark.parametrize(("settings", "message"), [
    ({"use_internal_ip": True}, "unknown setting gcp.use_internal_ip"),
    ({"use_internal_ips": "yes"}, "gcp.use_internal_ips must be true or false"),
    ({"ssh_user": "root; rm -rf /"}, "is not a Linux user name"),
])
def test_bad_settings_are_one_clear_error(gcp_api, settings, message):
    write_settings(gcp_api, **settings)
    result = GCPProvider().check()
    assert not result.enabled and message in result.reason
    assert gcp_api.calls() == []


def running_cluster(gcp_api, name: str, nodes: int, *, spot: bool = False):
    """Instances inserted and running, as the record of a finished launch sees them (no SSH behind them here)."""
    from dataclasses import replace

    inserted_by_a_crashed_launch(name, nodes, _owned.owner_id())
    provider = GCPProvider()
    compute, _ = provider._compute()
    found = provider.find(name)
    assert found is not None
    for operation in list(gcp_api.operations):  # the inserts end when read, as a launch's wait would read them
        compute.wait({"name": operation, "zone": f"zones/{ZONE_A}", "status": "RUNNING"})
    return provider, compute, replace(found, data={"gcp": {**found.data["gcp"], "unfinished": False, "spot": spot}})


def test_query_reads_each_instance_status(gcp_api):
    provider, compute, cluster = running_cluster(gcp_api, "q1", 2)
    names = cluster.data["gcp"]["instances"]
    assert provider.query(cluster).state == "RUNNING"
    compute.run("POST", f"zones/{ZONE_A}/instances/{names[1]}/stop")
    partial = provider.query(cluster)
    assert partial.state == "PARTIAL" and f"node 1 ({names[1]}): TERMINATED" in partial.reason
    compute.run("POST", f"zones/{ZONE_A}/instances/{names[0]}/stop")
    assert provider.query(cluster).state == "STOPPED"
    provider.terminate(cluster)
    assert provider.query(cluster).state == "TERMINATED" and gcp_api.instances == {}


def test_a_preemption_counts_only_until_the_vm_is_started_again(gcp_api):
    provider, compute, cluster = running_cluster(gcp_api, "sp", 1, spot=True)
    [name] = cluster.data["gcp"]["instances"]
    gcp_api.preempt(ZONE_A, name)
    reclaimed = provider.query(cluster)
    assert reclaimed.state == "PARTIAL" and reclaimed.reason.startswith("node 0: preempted (Instance was preempted at ")
    compute.run("POST", f"zones/{ZONE_A}/instances/{name}/start")
    assert provider.query(cluster).state == "RUNNING"
    compute.run("POST", f"zones/{ZONE_A}/instances/{name}/stop")
    assert provider.query(cluster).state == "STOPPED"  # stopped by the user after the restart, not reclaimed
    provider.terminate(cluster)


def test_a_missing_image_is_one_clear_error_without_failover(gcp_api):
    from skyhop.providers.errors import ProviderError

    image = "projects/nope/global/images/missing"
    gcp_api.add(Rule("insert", http_status=404, message=f"The resource '{image}' was not found"))
    with pytest.raises(ProviderError) as failed:
        GCPProvider().launch(request(offer(), image_id=image))
    assert failed.value.scope is None and image in str(failed.value) and "creating instance" in str(failed.value)
    assert gcp_api.instances == {}


def test_credentials_that_expire_mid_launch_name_what_is_left_and_down_removes_it_later(gcp_api):
    gcp_api.add(Rule("operation", http_status=401))
    gcp_api.add(Rule("delete", http_status=401))
    with pytest.raises(AuthError) as failed:
        GCPProvider().launch(request(offer()))
    [(zone, name)] = list(gcp_api.instances)
    assert f"{name} in {zone} may remain" in str(failed.value) and "skyhop down" in str(failed.value)
    gcp_api.clear()  # the credentials work again
    provider = GCPProvider()
    found = provider.find("c1")
    assert found is not None
    provider.terminate(found)
    assert gcp_api.instances == {}


def test_an_insert_whose_answer_is_lost_is_still_removed(gcp_api, monkeypatch):
    """GCP made the instance but the answer never came back (a timeout, a dropped connection): the
    cleanup must delete it anyway, or it bills unseen under a cluster that never came up."""
    from skyhop.providers.gcp import rest
    from skyhop.providers.http import ApiError

    real = rest.Compute.call

    def lose_the_answer(self, method, path, *args, **kwargs):
        answer = real(self, method, path, *args, **kwargs)
        if method == "POST" and path.endswith("/instances"):
            raise ApiError("GCP API could not be reached: timed out", status=0)
        return answer

    monkeypatch.setattr(rest.Compute, "call", lose_the_answer)
    with pytest.raises(ApiError):
        GCPProvider().launch(request(offer()))
    assert gcp_api.instances == {}, "the instance made by the unanswered insert was deleted"
