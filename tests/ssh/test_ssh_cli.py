"""`skyhop ssh add|ls|rm` and the pool report of `skyhop check`, against namespace hosts."""

from __future__ import annotations

import pytest
from e2e_support import Sky


@pytest.fixture
def sky(ssh_hosts, isolated_home, tmp_path, migrated_state_db):
    work = tmp_path / "work"
    work.mkdir()
    runner = Sky(isolated_home, work)
    runner.seed_state(migrated_state_db)
    yield runner
    runner.teardown()


def test_add_ls_check_and_rm(sky, ssh_hosts):
    host = ssh_hosts[0]
    added = sky("ssh", "add", "lab", host.ip, "--user", "root", "--identity-file", host.identity_file, "--price", "0.5", "--accelerators", "T4:1", check=True)
    assert f"added {host.ip}" in added.out
    sky("ssh", "add", "lab", "127.0.0.1", "--port", "1", check=True)  # a pool-wide port would break the first host...
    rows = sky.json("ssh", "ls", "--check")
    reach = {r["host"]: r["reachable"] for r in rows}
    assert reach == {f"root@{host.ip}:1": False, "root@127.0.0.1:1": False}  # ...and it does: settings apply pool-wide
    sky("ssh", "rm", "lab", "127.0.0.1", check=True)
    sky("ssh", "add", "lab", host.ip, "--port", "22", check=True)
    assert sky.json("ssh", "ls", "--check") == [
        {"pool": "lab", "host": f"root@{host.ip}:22", "price": 0.5, "accelerators": {"T4": 1.0}, "cluster": None, "reachable": True, "detail": "ok"}
    ]
    ssh_row = next(r for r in sky.json("check") if r["name"] == "ssh")
    assert ssh_row["enabled"] and [h["reachable"] for h in ssh_row["hosts"]] == [True]
    assert "SSH node pools" in sky("check", check=True).out

    sky("launch", "-y", "-c", "holder", "--infra", "ssh/lab", "echo hi", check=True)
    assert sky.json("ssh", "ls")[0]["cluster"] == "holder"
    rekey = sky("ssh", "add", "lab", host.ip, "--port", "2222")
    assert rekey.code != 0 and "change how hosts in use are reached" in rekey.err and "holder" in rekey.err
    refused = sky("ssh", "rm", "lab", "-y")
    assert refused.code != 0 and f"{host.ip} by cluster 'holder'" in refused.err
    sky("down", "-y", "holder", check=True)
    sky("ssh", "rm", "lab", "-y", check=True)
    assert sky.json("ssh", "ls") == []


def test_bad_pool_edits_are_refused_and_change_nothing(sky):
    sky("ssh", "add", "lab", "10.9.9.9", check=True)
    before = sky.json("ssh", "ls")
    for args, expected in [
        (("--accelerators", "H100:x"), "--accelerators: expected NAME:COUNT"),
        (("--accelerators", "H100:inf"), "--accelerators: expected NAME:COUNT"),
        (("--host-key-policy", "maybe"), "Invalid value for '--host-key-policy'"),
        (("--port", "70000"), "Invalid value for '--port'"),
        (("--identity-file", ""), "settings.identity_file"),  # the server's typed body names the field
    ]:
        result = sky("ssh", "add", "lab", "10.9.9.8", *args)
        assert result.code != 0 and expected in result.err, result.err
    assert sky.json("ssh", "ls") == before
    missing = sky("ssh", "rm", "nope", "-y")
    assert missing.code != 0 and "No SSH node pool named 'nope'" in missing.err
    assert not (sky.skyhop_home / "config.yaml").exists(), "pools go to the state store, not config.yaml"


def test_pools_in_config_yaml_keep_working_and_are_read_only_to_ssh_commands(sky):
    sky.skyhop_home.mkdir(parents=True, exist_ok=True)
    (sky.skyhop_home / "config.yaml").write_text("ssh_node_pools:\n  hand:\n    price: 2\n    hosts: [10.9.9.7]\n")
    sky("ssh", "add", "lab", "10.9.9.9", check=True)
    assert {(r["pool"], r["host"]) for r in sky.json("ssh", "ls")} == {("hand", "10.9.9.7:22"), ("lab", "10.9.9.9:22")}
    for args in (("add", "hand", "10.9.9.6"), ("rm", "hand", "-y")):
        refused = sky("ssh", *args)
        assert refused.code != 0 and "defined in config.yaml" in refused.err, refused.err
    (sky.skyhop_home / "config.yaml").write_text("ssh_node_pools:\n  lab:\n    hosts: [10.9.9.5]\n")
    clash = sky("ssh", "ls")
    assert clash.code != 0 and "defined both in config.yaml" in clash.err
    (sky.skyhop_home / "config.yaml").write_text("ssh_node_pools:\n  hand:\n    accelerators: {H100: .inf}\n    hosts: [10.9.9.9]\n")
    broken = sky("optimize", "--infra", "ssh")
    assert broken.code != 0 and "ssh_node_pools.hand.accelerators.H100: expected a whole number" in broken.err


def test_the_pool_api_answers_malformed_requests_with_4xx_naming_the_field(sky):
    import json
    import urllib.error
    import urllib.request

    sky("api", "start", check=True)
    info = json.loads((sky.skyhop_home / "api" / "server.json").read_text())

    def call(method: str, path: str, body=None) -> tuple[int, str]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {info['token']}", "Content-Type": "application/json"}
        request = urllib.request.Request(info["url"] + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    for body, field in [
        ([], "body"),
        ({"hosts": "10.0.0.1"}, "hosts"),
        ({"hosts": []}, "hosts"),
        ({"hosts": ["10.0.0.1"], "settings": {"port": 70000}}, "port"),
        ({"hosts": ["10.0.0.1"], "settings": {"price": "abc"}}, "price"),
        ({"hosts": ["10.0.0.1"], "settings": {"accelerators": {"H100": "x"}}}, "accelerators"),
        ({"hosts": ["10.0.0.1"], "settings": {"password": "x"}}, "password"),
    ]:
        status, detail = call("POST", "/api/v1/pools/lab/hosts", body)
        assert 400 <= status < 500 and field in detail, (body, status, detail)
    status, detail = call("DELETE", "/api/v1/pools/nope")
    assert status == 400 and "No SSH node pool named 'nope'" in detail
    status, detail = call("POST", "/api/v1/pools/lab/hosts", {"hosts": ["10.0.0.1"], "settings": {"accelerators": {"H100": 0}}})
    assert status == 400 and "SSH node pool lab.accelerators.H100: expected a whole number" in detail
    assert call("GET", "/api/v1/pools") == (200, "[]")


def test_show_gpus_on_infra_without_a_catalog_lists_what_it_has(sky):
    """`show-gpus --infra ssh` (and `local` on a GPU box) once failed: 'holds no catalog for ssh'.
    Such providers list their own machines; the API server (which holds the pools) answers for them."""
    sky.skyhop_home.mkdir(parents=True, exist_ok=True)
    (sky.skyhop_home / "config.yaml").write_text("ssh_node_pools:\n  rig:\n    price: 3\n    accelerators: {H100: 2}\n    hosts: [10.9.9.7]\n")
    [summary] = sky.json("show-gpus", "--infra", "ssh")
    assert (summary["accelerator"], summary["cloud"], summary["counts"]) == ("H100", "ssh", [1, 2])
    shapes = sky.json("show-gpus", "H100:2", "--infra", "ssh")
    assert [(s["instance_type"], s["region"], s["hourly_price"]) for s in shapes] == [("pool-rig", "rig", 3.0)]
    from skyhop.providers.local.machine import this_machine

    gpu = this_machine().gpu_name
    listed = sky("show-gpus", "--infra", "local", check=True).out
    assert (f"{gpu} " in listed and " local " in listed) if gpu else "No accelerators on offer on local." in listed, listed
    unknown = sky("show-gpus", "A100", "--infra", "ssh")
    assert unknown.code != 0 and "A100" in unknown.err and "Traceback" not in unknown.err
