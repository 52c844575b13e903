"""GCP end to end through the real CLI and API server: the replay server's instances are namespace hosts.

skyhop plans on the GCP catalog, inserts the instances through the Compute
REST replay (tokens from a real service-account JWT grant), SSHes to their
networkIPs (`gcp.use_internal_ips`), runs the job there, and stop/start/down
make the Compute calls; `down` leaves no instance, no firewall rule and no
adopted address.
"""

from __future__ import annotations

import json
import os
import signal

import pytest
from cloudsim.gcp_api import Rule
from cloudsim.gcp_fixtures import gcp_api, gcp_farm  # noqa: F401 - fixtures
from e2e_support import pid_gone, wait_for

pytestmark = pytest.mark.slow


def cli_env(sky) -> None:
    sky.env["GOOGLE_APPLICATION_CREDENTIALS"] = os.environ["GOOGLE_APPLICATION_CREDENTIALS"]


def test_launch_stop_start_down_on_one_vm(sky, gcp_farm):
    cli_env(sky)
    launched = sky("launch", "-y", "-c", "g1", "--infra", "gcp", "--cpus", "2", "echo hi from gcp", timeout=300)
    assert launched.code == 0, launched.out + launched.err
    assert "hi from gcp" in launched.out
    [(zone, name)] = list(gcp_farm.instances)
    instance = gcp_farm.instances[(zone, name)]
    row = sky.clusters()["g1"]
    assert row["status"] == "UP" and row["provider"] == "gcp" and zone in str(row)
    labels = instance["labels"]
    assert labels["skyhop-cluster"] == "g1" and labels["skyhop-owner"] and labels["skyhop-launch"]
    assert instance["metadata"]["items"][0]["value"].startswith("root:ssh-ed25519 ") and instance["scheduling"]["provisioningModel"] == "STANDARD"
    ip = instance["networkInterfaces"][0]["networkIP"]
    assert ip in gcp_farm.adopter.held()

    sky("stop", "-y", "g1", check=True, timeout=180)
    assert gcp_farm.instances[(zone, name)]["status"] == "TERMINATED"
    assert sky.clusters()["g1"]["status"] == "STOPPED"
    assert [c.verb for c in gcp_farm.calls("stop")] == ["stop"]

    sky("start", "g1", check=True, timeout=180)
    assert gcp_farm.instances[(zone, name)]["status"] == "RUNNING"
    again = sky("exec", "g1", "echo after start", check=True, timeout=180)
    assert "after start" in again.out

    sky("down", "-y", "g1", check=True, timeout=180)
    assert gcp_farm.instances == {} and gcp_farm.firewalls == {}
    assert gcp_farm.adopter.held() == {}
    assert sky.clusters() == {}


def test_two_nodes_get_their_network_ips_and_a_firewall_rule(sky, gcp_farm):
    cli_env(sky)
    task = sky.task(
        "two.yaml",
        "num_nodes: 2\nresources:\n  infra: gcp\n  cpus: 2\n  ports: 8080\nrun: |\n"
        '  echo "rank=$SKYPILOT_NODE_RANK ips=$(echo "$SKYPILOT_NODE_IPS" | paste -sd,)"\n',
    )
    launched = sky("launch", "-y", "-c", "g2", task, timeout=300)
    assert launched.code == 0, launched.out + launched.err
    ips = sorted(i["networkInterfaces"][0]["networkIP"] for i in gcp_farm.instances.values())
    names = sorted(name for _zone, name in gcp_farm.instances)
    assert len(ips) == 2
    lines = sorted(line.split(") ", 1)[-1] for line in launched.out.splitlines() if "rank=" in line)
    by_rank = [i["networkInterfaces"][0]["networkIP"] for _k, i in sorted(gcp_farm.instances.items(), key=lambda kv: kv[0][1])]
    assert lines == [f"rank={r} ips={','.join(by_rank)}" for r in range(2)]
    [rule] = gcp_farm.firewalls.values()
    assert rule["allowed"] == [{"IPProtocol": "tcp", "ports": ["8080"]}]
    tags = {t for i in gcp_farm.instances.values() for t in i["tags"]["items"]}
    assert rule["targetTags"] == sorted(tags) and rule["name"].endswith("-g2-ports") and names[0].endswith("-g2-0")

    sky("down", "-y", "g2", check=True, timeout=180)
    assert gcp_farm.instances == {} and gcp_farm.firewalls == {} and gcp_farm.adopter.held() == {}


def test_an_exhausted_zone_moves_to_the_next_zone_and_a_quota_to_another_region(sky, gcp_farm):
    cli_env(sky)
    gcp_farm.add(Rule("insert", operation_error="ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS", times=1))
    gcp_farm.add(Rule("insert", operation_error="QUOTA_EXCEEDED", quota_metric="CPUS", times=1))
    result = sky("launch", "-y", "-c", "fo", "--infra", "gcp", "--cpus", "2", "echo landed", "--output", "json", timeout=300)
    assert result.code == 0, result.out + result.err
    zones = [c.zone for c in gcp_farm.calls("insert")]
    assert len(zones) == 3 and len(set(zones)) == 3
    region = [str(z).rsplit("-", 1)[0] for z in zones]
    assert region[2] != region[1], "a quota rules out the region"
    attempts = json.loads(result.out)["plan"]["attempts"]
    assert [(a["outcome"], a["scope"]) for a in attempts] == [("failed", "zone"), ("failed", "region"), ("launched", None)]
    assert [a["infra"].rsplit("/", 1)[-1] for a in attempts] == zones
    assert "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS" in attempts[0]["reason"] and "Quota 'CPUS' exceeded" in attempts[1]["reason"]
    live = [line for line in result.err.splitlines() if line.endswith("trying the next candidate.")]
    assert len(live) == 2 and f"Blocked zone {attempts[0]['infra']};" in live[0], result.err
    assert [zone for zone, _name in gcp_farm.instances] == [zones[2]]
    sky("down", "-y", "fo", check=True, timeout=180)
    assert gcp_farm.instances == {} and gcp_farm.adopter.held() == {}


def test_refused_credentials_block_the_cloud_and_leave_nothing(sky, gcp_api):
    cli_env(sky)
    gcp_api.add(Rule("insert", http_status=403))
    result = sky("launch", "-y", "-c", "nope", "--infra", "gcp", "--cpus", "2", "echo never", timeout=300)
    assert result.code != 0
    assert "GCP refused the credentials" in result.err and "skyhop check" in result.err
    assert len(gcp_api.calls("insert")) == 1  # the cloud is blocked after the first refusal: no other zone is tried
    assert gcp_api.instances == {} and "Traceback" not in result.err
    assert sky.clusters() == {}


def test_a_tpu_request_says_gcp_tpus_cannot_be_launched(sky, gcp_api):
    cli_env(sky)
    result = sky("launch", "-y", "-c", "tpu", "--infra", "gcp", "--gpus", "tpu-v5litepod-8", "echo never", timeout=300)
    assert result.code != 0 and "Cloud TPU" in result.err, result.err
    assert gcp_api.calls("insert") == [] and sky.clusters() == {}


def test_check_reports_gcp_usable_or_why_not(sky, gcp_api):
    cli_env(sky)
    usable = {r["name"]: r for r in sky.json("check")}["gcp"]
    assert usable["enabled"] and "skyhop-test-project" in usable["reason"]
    gcp_api.add(Rule("project", http_status=401))
    refused = {r["name"]: r for r in sky.json("check")}["gcp"]
    assert not refused["enabled"] and "401" in refused["reason"] and "skyhop check" in refused["reason"]


def test_a_reclaimed_spot_vm_is_reported_preempted_with_the_reason(sky, gcp_farm):
    cli_env(sky)
    sky("launch", "-y", "-c", "sp", "--infra", "gcp", "--cpus", "2", "--use-spot", "echo spot", check=True, timeout=300)
    [(zone, name)] = list(gcp_farm.instances)
    assert gcp_farm.instances[(zone, name)]["scheduling"]["provisioningModel"] == "SPOT"
    assert sky.clusters()["sp"]["status"] == "UP"
    gcp_farm.preempt(zone, name)
    row = {r["name"]: r for r in sky.json("status", "--refresh")}["sp"]
    assert row["status"] != "UP" and "node 0: preempted (Instance was preempted at " in row["status_reason"], row
    sky("down", "-y", "sp", check=True, timeout=180)
    assert gcp_farm.instances == {} and gcp_farm.adopter.held() == {}


def test_api_cancel_while_an_insert_runs_removes_the_instance(sky, gcp_api):
    cli_env(sky)
    gcp_api.add(Rule("insert", hold=True))
    client = sky.popen("launch", "-y", "-c", "cx", "--infra", "gcp", "--cpus", "2", "echo never")
    wait_for(lambda: gcp_api.instances, what="the insert")
    request_id = next(r["request_id"] for r in sky.json("api", "status")["requests"] if r["name"] == "launch")
    sky("api", "cancel", request_id, check=True)
    _, err = client.communicate(timeout=120)
    assert client.returncode != 0 and "Traceback" not in err
    wait_for(lambda: "cx" not in sky.clusters(), what="the cancelled launch's record to go")
    assert gcp_api.instances == {}
    assert [c.verb for c in gcp_api.calls() if c.verb in ("insert", "delete")] == ["insert", "delete"]


def test_server_killed_mid_insert_leaves_a_vm_that_the_next_server_finds_by_its_labels_and_removes(sky, gcp_api):
    """kill -9 while GCP creates the VM: the INIT record names no instance, only the launch. The next server
    (started by `down`) resumes the launch, whose refresh finds the VM by its labels and deletes it; the
    resumed launch then meets refused credentials, so it ends, and `down` finds nothing left."""
    cli_env(sky)
    gcp_api.add(Rule("insert", hold=True, times=1))
    gcp_api.add(Rule("insert", http_status=403))
    client = sky.popen("launch", "-y", "-c", "kc", "--infra", "gcp", "--cpus", "2", "echo never")
    wait_for(lambda: gcp_api.instances, what="the insert")
    pid = sky.server_pid()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: pid_gone(pid), what="the server to die")
    client.communicate(timeout=60)
    [(zone, name)] = list(gcp_api.instances)
    sky("down", "-y", "kc", check=True, timeout=180)
    assert gcp_api.instances == {}
    assert [(c.verb, c.zone) for c in gcp_api.calls("aggregatedList")], "found by labels, not by a stored name"
    assert ("delete", zone) in [(c.verb, c.zone) for c in gcp_api.calls("delete")]
    # The resumed launch may still be trying its next candidate (an INIT record for a moment) until the 403 ends it.
    wait_for(lambda: "kc" not in sky.clusters(), what="the resumed launch to end")
    assert gcp_api.instances == {}
