"""SSH node pools end to end: the real CLI and server launching on namespace hosts."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from e2e_support import Sky


@pytest.fixture
def pools_sky(ssh_hosts, isolated_home, tmp_path):
    """Pool `a` (host 0, cheaper) and pool `b` (host 1), each host with its own base dir."""
    work = tmp_path / "work"
    work.mkdir()
    sky = Sky(isolated_home, work)
    sky.skyhop_home.mkdir(exist_ok=True)
    lines = ["ssh_node_pools:"]
    for name, host, price in (("a", ssh_hosts[0], 0.1), ("b", ssh_hosts[1], 0.2)):
        lines += [
            f"  {name}:",
            f"    price: {price}",
            "    cpus: 2",
            "    memory_gib: 4",
            f"    user: {host.user}",
            f"    identity_file: {host.identity_file}",
            "    hosts:",
            f"      - {{ip: {host.ip}, base_dir: {host.base_dir}/{isolated_home.name}-{name}}}",
        ]
    (sky.skyhop_home / "config.yaml").write_text("\n".join(lines) + "\n")
    yield sky
    sky("down", "--all", "-y")
    subprocess.run([sys.executable, "-m", "skyhop.cli.main", "api", "stop"], env=sky.env, capture_output=True, timeout=60)


def _agent_processes(base: str) -> list[str]:
    out = subprocess.run(["pgrep", "-af", f"skyhop_agent --base {base}"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "pgrep" not in line]


def test_launch_fails_over_between_pools_and_down_cleans_hosts(pools_sky, ssh_hosts, isolated_home):
    sky = pools_sky
    first = sky("launch", "-y", "-c", "one", "--infra", "ssh", 'echo "on $SKYPILOT_NODE_IPS"', check=True)
    assert f"on {ssh_hosts[0].ip}" in first.out
    second = sky("launch", "-y", "-c", "two", "--infra", "ssh", 'echo "on $SKYPILOT_NODE_IPS"', check=True)
    assert f"on {ssh_hosts[1].ip}" in second.out
    assert "pool 'a' has 0 free host(s) of 1; 1 needed." in second.err
    full = sky("launch", "-y", "-c", "three", "--infra", "ssh", "echo never")
    assert full.code != 0
    assert "pool 'a' has 0 free host(s)" in full.err and "pool 'b' has 0 free host(s)" in full.err
    rows = sky.clusters()
    assert (rows["one"]["infra"], rows["two"]["infra"]) == ("ssh/a", "ssh/b") and "three" not in rows
    assert rows["one"]["hourly_price"] == pytest.approx(0.1)
    ran = sky("exec", "one", "echo again", check=True)
    assert "again" in ran.out
    base_a = f"{ssh_hosts[0].base_dir}/{isolated_home.name}-a"
    assert _agent_processes(base_a)
    sky("down", "-y", "one", "two", check=True)
    assert not _agent_processes(base_a)
    listing = subprocess.run(["ls", "-A", base_a], capture_output=True, text=True).stdout.split()
    assert listing == []  # the cluster's directory is gone from the host
    assert sky.clusters() == {}


def test_stop_releases_hosts_and_start_needs_them_back(pools_sky, ssh_hosts):
    sky = pools_sky
    sky("launch", "-y", "-c", "keep", "--infra", "ssh/a", "echo first", check=True)
    sky("stop", "-y", "keep", check=True)
    assert sky.clusters()["keep"]["status"] == "STOPPED"
    sky("launch", "-y", "-c", "borrow", "--infra", "ssh/a", "echo borrowed", check=True)
    refused = sky("start", "keep")
    assert refused.code != 0 and "in use" in refused.err and "borrow" in refused.err
    sky("down", "-y", "borrow", check=True)
    sky("start", "keep", check=True)
    sky("exec", "keep", "echo second", check=True)
    assert sorted(sky.jobs("keep")) == [1, 2]


def test_unknown_pool_and_unreachable_host(pools_sky, ssh_hosts):
    sky = pools_sky
    unknown = sky("launch", "-y", "--infra", "ssh/nope", "echo")
    assert unknown.code != 0 and "ssh/nope" in unknown.err
    config = sky.skyhop_home / "config.yaml"
    config.write_text(config.read_text().replace(f"ip: {ssh_hosts[1].ip}", f"ip: {ssh_hosts[1].ip}, port: 2299"))
    unreachable = sky("launch", "-y", "-c", "x", "--infra", "ssh/b", "echo")
    assert unreachable.code != 0 and "Connection refused" in unreachable.err
    assert "x" not in sky.clusters()
    assert json.loads((sky.skyhop_home / "ssh" / "leases.json").read_text()) == {}


def test_multi_node_on_pools_is_refused_until_gangs_run_over_ssh(pools_sky):
    result = pools_sky("launch", "-y", "-c", "gang", "--infra", "ssh", "--num-nodes", "2", "echo")
    assert result.code != 0 and "multi-node clusters on SSH pools are not supported yet" in result.err
    assert "gang" not in pools_sky.clusters()
