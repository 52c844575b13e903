"""SSH pool hosts, users and jump hosts are data, never ssh options or shell text.

A host written `-oProxyCommand=touch /tmp/x` would make `ssh ... DEST` run a
command on the machine that runs skyhop (the API server's, in team mode). Every
way a pool is defined (config.yaml, `skyhop ssh add`, the raw API) goes through
one parser, and the ssh command line also ends options with `--`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from skyhop.errors import SkyhopError
from skyhop.providers.ssh.pools import parse_pools
from skyhop.providers.ssh.runner import SSHRunner, SSHTarget

HOSTILE_HOSTS = ["-oProxyCommand=touch /tmp/pwn", "a b", "h;id", "h$(id)", "h`id`", "h\nid", "", "-v"]
HOSTILE_USERS = ["-oProxyCommand=touch /tmp/pwn", "a b", "root;id", "r'oot"]


@pytest.mark.parametrize("host", HOSTILE_HOSTS)
def test_hostile_hosts_are_refused_by_the_pool_parser(host):
    with pytest.raises(SkyhopError):
        parse_pools({"lab": {"hosts": [host]}})


@pytest.mark.parametrize("user", HOSTILE_USERS)
def test_hostile_users_and_jumps_are_refused(user):
    with pytest.raises(SkyhopError):
        parse_pools({"lab": {"user": user, "hosts": ["10.0.0.1"]}})
    with pytest.raises(SkyhopError):
        parse_pools({"lab": {"jump": f"{user}@bastion", "hosts": ["10.0.0.1"]}})


@pytest.mark.parametrize("name", ["x" * 64, "-p", "a b", "a/b", ""])
def test_pool_names_are_bounded(name):
    with pytest.raises(SkyhopError):
        parse_pools({name: {"hosts": ["10.0.0.1"]}})


def test_ordinary_pools_still_parse():
    pools = parse_pools({"lab-1": {"user": "ubuntu", "jump": "admin@bastion.example.com:2222", "hosts": ["10.0.0.1", "gpu-2.lan", {"ip": "fe80::1"}]}})
    assert [h.target.host for h in pools["lab-1"].hosts] == ["10.0.0.1", "gpu-2.lan", "fe80::1"]


def test_the_ssh_command_line_ends_options_before_the_destination():
    argv = SSHRunner(SSHTarget("10.0.0.1", "root"))._ssh_argv(["true"])
    assert argv[argv.index("--") + 1] == "root@10.0.0.1"


def test_the_raw_api_refuses_a_hostile_host_and_creates_no_pool(isolated_home, tmp_path):
    """Through the real API server: a 4xx naming the problem, nothing stored, nothing run."""
    from helpers import run_cli

    marker = tmp_path / "pwn"
    assert run_cli(isolated_home, "status").returncode == 0  # starts the API server
    info = json.loads((isolated_home / ".skyhop" / "api" / "server.json").read_text())

    def call(method: str, path: str, body: dict | None = None) -> tuple[int, str]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(info["url"] + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {info['token']}")
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    status, detail = call("POST", "/api/v1/pools/p1/hosts", {"hosts": [f"-oProxyCommand=touch {marker}"]})
    assert 400 <= status < 500 and "Invalid SSH host" in detail
    status, _ = call("POST", "/api/v1/pools/p2/hosts", {"hosts": ["10.9.9.8"], "settings": {"user": f"-oProxyCommand=touch {marker}"}})
    assert 400 <= status < 500
    status, _ = call("POST", "/api/v1/pools/" + "x" * 200 + "/hosts", {"hosts": ["10.9.9.8"]})
    assert status == 422
    assert call("GET", "/api/v1/pools") == (200, "[]")
    assert run_cli(isolated_home, "ssh", "ls", "--check").returncode == 0
    assert not marker.exists()
