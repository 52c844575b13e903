"""Third-party providers arrive through the `skyhop.providers` entry-point group."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import run_cli

PLUGIN = Path(__file__).parent / "plugin_pkg"


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    """The plugin package, really installed (pip, no network) into its own directory."""
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index", "--target", str(target), str(PLUGIN)],
        check=True, capture_output=True, text=True, cwd=build, timeout=300,
    )
    assert list(target.glob("skyhop_toycloud-*.dist-info"))
    return target


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
