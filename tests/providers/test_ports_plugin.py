"""A provider that can open ports (`PortOpener`) gets the tasks with `ports`, and opens them at launch."""

from __future__ import annotations

import json

from helpers import run_cli


def test_a_provider_that_opens_ports_gets_the_task_and_opens_them(isolated_home, plugin_site):
    """The catalog plugin's `shadeform` is a PortOpener, its `primeintellect` is not (tests/providers/plugin_pkg)."""
    (isolated_home / ".skyhop").mkdir(exist_ok=True)
    (isolated_home / ".skyhop" / "catalogcloud.json").write_text("{}")
    task = isolated_home / "task.yaml"
    task.write_text("resources:\n  accelerators: H100:8\n  ports: 8080\nrun: echo served\n")

    def skyhop(*args):
        return run_cli(isolated_home, *args, PYTHONPATH=str(plugin_site))

    try:
        plan = json.loads(skyhop("optimize", str(task), "-o", "json").stdout)
        assert plan["cloud"] == "shadeform" and {c["cloud"] for c in plan["candidates"]} == {"shadeform"}
        result = skyhop("launch", "-y", "-c", "web", str(task), "--output", "json")
        assert result.returncode == 0, result.stderr
        calls = (isolated_home / ".skyhop" / "catalogcloud-calls").read_text().splitlines()
        assert [c.split()[0].split("/")[0] for c in calls[:-1]] == ["shadeform"] and calls[-1] == "open_ports web 8080"
        # Without ports, primeintellect (cheaper) is back in the plan.
        plain = json.loads(skyhop("optimize", "--gpus", "H100:8", "-o", "json").stdout)
        assert plain["cloud"] == "primeintellect"
    finally:
        skyhop("down", "--all", "-y")
        skyhop("api", "stop")
