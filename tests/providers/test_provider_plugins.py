"""Third-party providers arrive through the `skyhop.providers` entry-point group."""

from __future__ import annotations

import json

from helpers import run_cli


def test_installed_plugin_shows_in_check(isolated_home, plugin_site):
    result = run_cli(isolated_home, "check", "--output", "json", PYTHONPATH=str(plugin_site))
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["toycloud"] == {"name": "toycloud", "enabled": True, "reason": "toy credentials found"}
    assert rows["local"]["enabled"]


def test_plugin_offers_join_the_search(isolated_home, plugin_site):
    result = run_cli(isolated_home, "optimize", "--infra", "toycloud", "--cpus", "8", "--output", "json", PYTHONPATH=str(plugin_site))
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert (plan["cloud"], plan["instance_type"], plan["hourly_price"]) == ("toycloud", "toy-1", 0.05)


def test_without_the_plugin_the_name_is_unknown(isolated_home):
    result = run_cli(isolated_home, "optimize", "--infra", "toycloud")
    assert result.returncode != 0
    assert "unknown cloud" in result.stderr and "Traceback" not in result.stderr


def _flaky(isolated_home, mode: str) -> None:
    skyhop_home = isolated_home / ".skyhop"
    skyhop_home.mkdir(exist_ok=True)
    (skyhop_home / "flaky-mode").write_text(mode)
    (skyhop_home / "config.yaml").write_text("infra:\n  local: true\n")


def _run(isolated_home, plugin_site, *args):
    return run_cli(isolated_home, *args, PYTHONPATH=str(plugin_site))


def test_capacity_error_fails_over_to_the_next_candidate(isolated_home, plugin_site):
    _flaky(isolated_home, "capacity")
    try:
        result = _run(isolated_home, plugin_site, "launch", "-y", "-c", "fo", "echo landed-on-$SKYPILOT_CLUSTER_INFO")
        assert result.returncode == 0, result.stderr
        # Shown as it happened: the offer, the provider's error, and what it ruled out (the offer has no zones: its region).
        assert (
            "[skyhop] flakycloud/flaky-region flaky-1: flakycloud: no capacity in flaky-region right now. "
            "Blocked region flakycloud/flaky-region; trying the next candidate."
        ) in result.stderr
        assert '"provider": "local"' in result.stdout
        calls = (isolated_home / ".skyhop" / "flaky-calls").read_text().splitlines()
        assert calls == ["launch fo capacity"]
        rows = json.loads(_run(isolated_home, plugin_site, "status", "-o", "json").stdout)
        assert [(r["name"], r["provider"]) for r in rows] == [("fo", "local")]
    finally:
        _run(isolated_home, plugin_site, "down", "--all", "-y")
        _run(isolated_home, plugin_site, "api", "stop")


def test_machines_created_then_failing_bootstrap_are_removed(isolated_home, plugin_site):
    _flaky(isolated_home, "bootstrap")
    try:
        result = _run(isolated_home, plugin_site, "launch", "-y", "-c", "bs", "echo hi")
        assert result.returncode != 0 and "Traceback" not in result.stderr
        assert "removing what was created" in result.stderr
        calls = (isolated_home / ".skyhop" / "flaky-calls").read_text().splitlines()
        assert calls == ["launch bs bootstrap", "terminate bs"]
        assert not (isolated_home / ".skyhop" / "flaky" / "bs").exists()
        assert json.loads(_run(isolated_home, plugin_site, "status", "-o", "json").stdout) == []
        history = json.loads(_run(isolated_home, plugin_site, "cost-report", "-o", "json").stdout)
        assert history == []  # never UP, never billed
    finally:
        _run(isolated_home, plugin_site, "api", "stop")
