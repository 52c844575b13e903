"""A namespace host adopts a further address (as a cloud instance's private IP) and gives it back.

The cloud tests rest on this: the emulated API reports an instance at some
private IP, a waiting host adopts that IP, and skyhop's ordinary SSH path
reaches it there.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from netns_hosts import LAST_HOST, Host, adopt, down, install_key, missing_requirements, release, up


@pytest.fixture(scope="module")
def farm(tmp_path_factory) -> tuple[Path, list[Host]]:
    problem = missing_requirements()
    if problem:
        pytest.skip(f"SSH test hosts unavailable: {problem}")
    workdir = tmp_path_factory.mktemp("adopt-farm")
    try:
        yield workdir, up(2, workdir)
    finally:
        down(workdir)


def ssh(ip: str, identity: str, command: str) -> subprocess.CompletedProcess[str]:
    argv = ["ssh", "-i", identity, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "ConnectTimeout=3", "-o", "LogLevel=ERROR", f"root@{ip}", command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def adoptable(host: Host, last: int) -> str:
    return f"{host.ip.rpartition('.')[0]}.{last}"


def test_an_adopted_address_reaches_that_host_until_released(farm):
    workdir, hosts = farm
    ip = adoptable(hosts[1], LAST_HOST + 5)
    assert ssh(ip, hosts[1].identity_file, "true").returncode != 0, "nobody has the address yet"
    adopt(workdir, 1, ip)
    try:
        reached = ssh(ip, hosts[1].identity_file, "ip -o -4 addr show")
        assert reached.returncode == 0, reached.stderr
        assert hosts[1].ip in reached.stdout and ip in reached.stdout, "the session runs on host 1, which holds both addresses"
        # The other host reaches its sshd there too (head -> worker by private IP), with no route added anywhere.
        connect = f"import socket; socket.create_connection(({ip!r}, 22), timeout=5).close()"
        probe = subprocess.run(["ip", "netns", "exec", hosts[0].namespace, sys.executable, "-c", connect], capture_output=True, text=True, timeout=30)
        assert probe.returncode == 0, probe.stderr
    finally:
        release(workdir, 1, ip)
    assert ssh(ip, hosts[1].identity_file, "true").returncode != 0, "a released address leads nowhere"
    assert ssh(hosts[1].ip, hosts[1].identity_file, "true").returncode == 0, "the host's own address is untouched"


def test_a_key_installed_on_a_host_logs_in_there_only(farm, tmp_path):
    _, hosts = farm
    key = tmp_path / "instance_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    assert ssh(hosts[0].ip, str(key), "true").returncode != 0, "an unknown key is refused"
    install_key(Path(hosts[0].home), (tmp_path / "instance_key.pub").read_text())
    assert ssh(hosts[0].ip, str(key), "true").returncode == 0
    assert ssh(hosts[1].ip, str(key), "true").returncode != 0, "only the host given the key accepts it"


@pytest.mark.parametrize("last", [2, LAST_HOST, 255])
def test_host_addresses_and_the_broadcast_are_not_adoptable(farm, last):
    workdir, hosts = farm
    with pytest.raises(ValueError):
        adopt(workdir, 0, adoptable(hosts[0], last))


def test_a_farm_leaves_room_for_cloud_subnets(tmp_path):
    with pytest.raises(ValueError, match="at most 30 hosts"):
        up(LAST_HOST, tmp_path / "too-big")
