"""GCP end to end through the real CLI and API server: the replay server's instances are namespace hosts.

skyhop plans on the GCP catalog, inserts the instances through the Compute
REST replay (tokens from a real service-account JWT grant), SSHes to their
networkIPs (`gcp.use_internal_ips`), runs the job there, and stop/start/down
make the Compute calls; `down` leaves no instance, no firewall rule and no
adopted address.
"""

from __future__ import annotations

import os

import pytest
from cloudsim.gcp_fixtures import gcp_farm  # noqa: F401 - a fixture

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
    assert instance["sshUser"] == "root" and instance["scheduling"]["provisioningModel"] == "STANDARD"
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
