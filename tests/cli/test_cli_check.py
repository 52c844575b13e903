"""`skyhop check`, and how credentials limit `skyhop optimize`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import run_cli

from skyhop.providers.credentials import RULES

# `check` asks the API server, which each test here starts in its own home: from a migrated state database.
pytestmark = pytest.mark.usefixtures("migrated_home")


def add_cloud_key(home: Path) -> Path:
    """Credentials of a cloud skyhop only prices, so presence is the whole check (a launchable
    cloud such as Lambda asks its API whether the key works)."""
    key = home / ".nebius" / "credentials.json"
    key.parent.mkdir()
    key.write_text("api_key = not-a-real-key\n")
    return key


def test_check_with_no_credentials(skyhop):
    result = skyhop("check", "-v")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["PROVIDER", "ENABLED", "DETAIL"]
    lambda_line = next(line for line in lines if line.startswith("lambda "))
    assert lambda_line.split()[1] == "no" and "~/.lambda_cloud/lambda_keys" in lambda_line
    local_line = next(line for line in lines if line.startswith("local "))
    assert local_line.split()[1] == "yes" and "this machine" in local_line
    assert lines[-1] == "Enabled: local"


def test_check_without_verbose_is_terse_and_points_to_v(skyhop):
    lines = skyhop("check").out.splitlines()
    lambda_line = next(line for line in lines if line.startswith("lambda "))
    assert lambda_line.split()[1:] == ["no", "no", "credentials"]
    assert lines[-2:] == ["Run `skyhop check -v` to see where the missing credentials are looked for.", "Enabled: local"]


def test_check_named_clouds_only(skyhop, isolated_home):
    add_cloud_key(isolated_home)
    result = skyhop("check", "nebius", "LOCAL", "nebius")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert [line.split()[0] for line in lines[2:-1] if line.strip()] == ["nebius", "local"]
    assert lines[-1] == "Enabled: nebius, local"
    rows = json.loads(skyhop("check", "vast", "-o", "json").out)
    assert [r["name"] for r in rows] == ["vast"] and rows[0]["reason"].startswith("no credentials (looked for ")


@pytest.mark.parametrize(("typed", "hint"), [("lamda", "Did you mean 'lambda'?"), ("../../etc", "Known: ")])
def test_check_unknown_cloud_is_a_user_error(skyhop, typed, hint):
    result = skyhop("check", typed)
    assert result.code != 0 and f"Unknown cloud or infra '{typed}'." in result.err and hint in result.err


def test_check_json_schema(skyhop):
    result = skyhop("check", "--output", "json")
    assert result.code == 0, result.err
    rows = json.loads(result.out)
    assert [r["name"] for r in rows] == sorted([*RULES, "local", "ssh"])
    assert all(set(r) == {"name", "enabled", "reason"} for r in rows if r["name"] != "ssh")
    by_name = {r["name"]: r for r in rows}
    assert by_name["ssh"] == {"name": "ssh", "enabled": False, "reason": "no ssh_node_pools in config.yaml", "hosts": []}
    clouds = [r for r in rows if r["name"] not in ("local", "ssh")]
    assert not any(r["enabled"] for r in clouds)
    assert all(r["reason"].startswith("no credentials (looked for ") for r in clouds)


def test_a_credentials_file_enables_its_cloud(skyhop, isolated_home):
    add_cloud_key(isolated_home)
    rows = {r["name"]: r for r in json.loads(skyhop("check", "-o", "json").out)}
    assert rows["nebius"] == {"name": "nebius", "enabled": True, "reason": "found ~/.nebius/credentials.json"}
    assert [name for name, r in rows.items() if r["enabled"]] == ["local", "nebius"]
    assert skyhop("check").out.splitlines()[-1] == "Enabled: local, nebius"


def test_an_env_var_enables_its_cloud(skyhop, monkeypatch):
    monkeypatch.setenv("VAST_API_KEY", "x")
    rows = {r["name"]: r for r in json.loads(skyhop("check", "-o", "json").out)}
    assert rows["vast"]["enabled"] and rows["vast"]["reason"] == "$VAST_API_KEY is set"
    monkeypatch.setenv("VAST_API_KEY", "")
    # `check` asks the API server, which launches and so holds the credentials: a new
    # environment counts from its next start (as with SkyPilot's API server).
    assert skyhop("api", "stop").code == 0
    rows = {r["name"]: r for r in json.loads(skyhop("check", "-o", "json").out)}
    assert not rows["vast"]["enabled"]


def test_a_directory_is_not_a_credentials_file(skyhop, isolated_home):
    (isolated_home / ".lambda_cloud" / "lambda_keys").mkdir(parents=True)
    rows = {r["name"]: r for r in json.loads(skyhop("check", "-o", "json").out)}
    assert not rows["lambda"]["enabled"]


def test_optimize_without_all_clouds_searches_only_enabled_clouds(skyhop, isolated_home, shared_catalog):
    add_cloud_key(isolated_home)
    result = skyhop("optimize", "--gpus", "H100:8", "--output", "json")
    assert result.code == 0, result.err
    plan = json.loads(result.out)
    assert plan["considered_clouds"] == ["nebius"]
    assert {c["cloud"] for c in plan["candidates"]} == {"nebius"}
    nebius_prices = [o.price for o in shared_catalog.offers if o.cloud == "nebius" and o.accelerator == "H100" and o.accelerator_count == 8]
    assert plan["cloud"] == "nebius" and plan["hourly_price"] == min(nebius_prices)
    # Every cloud, for comparison: something cheaper exists elsewhere.
    everywhere = json.loads(skyhop("optimize", "--gpus", "H100:8", "--all-clouds", "-o", "json").out)
    assert len(everywhere["considered_clouds"]) == len(shared_catalog.clouds)
    assert everywhere["hourly_price"] < plan["hourly_price"] and everywhere["cloud"] != "nebius"


def test_optimize_text_names_the_scope(skyhop, isolated_home):
    add_cloud_key(isolated_home)
    result = skyhop("optimize", "--gpus", "H100:8")
    assert result.code == 0, result.err
    assert result.out.startswith("Considered 1 cloud(s) (enabled clouds): nebius")
    assert "Chosen: nebius gpu-h100-sxm_8gpu-128vcpu-1600gb" in result.out


def test_optimize_with_nothing_enabled_searches_this_machine(skyhop):
    result = skyhop("optimize", "--gpus", "H100:8")
    assert result.code == 1
    assert "no enabled cloud (local) offers 'H100'" in result.err and "--all-clouds" in result.err
    plan = json.loads(skyhop("optimize", "--cpus", "1+", "-o", "json").out)
    assert (plan["cloud"], plan["hourly_price"], plan["considered_clouds"]) == ("local", 0, ["local"])
    assert plan["notes"] == ["local: considered because no cloud is enabled (see `skyhop check`)."]


def test_local_is_not_searched_when_a_cloud_is_enabled_unless_named(skyhop, isolated_home):
    add_cloud_key(isolated_home)
    plan = json.loads(skyhop("optimize", "--cpus", "1+", "-o", "json").out)
    assert "local" not in plan["considered_clouds"] and plan["cloud"] != "local"
    assert "local: not considered" in plan["notes"][-1]
    named = json.loads(skyhop("optimize", "--infra", "local", "-o", "json").out)
    assert named["cloud"] == "local" and "task names it" in named["notes"][-1]
    (isolated_home / ".skyhop").mkdir(exist_ok=True)
    (isolated_home / ".skyhop" / "config.yaml").write_text("infra:\n  local: true\n")
    opted = json.loads(skyhop("optimize", "--cpus", "1+", "-o", "json").out)
    assert "local" in opted["considered_clouds"] and opted["cloud"] == "local"


def test_enabled_cloud_without_the_gpu_explains(skyhop, monkeypatch):
    monkeypatch.setenv("YOTTA_API_KEY", "x")  # yotta only has RTX 5090s
    result = skyhop("optimize", "--gpus", "H100:8")
    assert result.code == 1
    assert "no cloud in the catalog offers 'H100'" not in result.err
    assert "yotta" in result.err and "--all-clouds" in result.err


@pytest.mark.parametrize("output", ["table", "json"])
def test_check_in_a_subprocess_sees_the_isolated_home(isolated_home, output):
    add_cloud_key(isolated_home)
    result = run_cli(isolated_home, "check", "--output", output)
    assert result.returncode == 0, result.stderr
    if output == "json":
        assert [r["name"] for r in json.loads(result.stdout) if r["enabled"]] == ["local", "nebius"]
    else:
        assert result.stdout.splitlines()[-1] == "Enabled: local, nebius"


def test_optimize_in_a_subprocess_with_a_cloud_enabled(isolated_home):
    add_cloud_key(isolated_home)
    result = run_cli(isolated_home, "optimize", "--gpus", "H100:8", "--output", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["considered_clouds"] == ["nebius"]


def test_existing_machines_take_requests_up_to_their_size(skyhop):
    """`cpus: 1` on this machine means "needs 1", not "exactly a 1-CPU machine"."""
    plan = json.loads(skyhop("optimize", "--cpus", "1", "--memory", "1", "-o", "json").out)
    assert plan["cloud"] == "local"
    assert plan["vcpus"] == os.cpu_count()
