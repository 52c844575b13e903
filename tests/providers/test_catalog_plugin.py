"""Acceptance (issue 9): adding a provider is one package plus one registration line.

The installed test package registers `shadeform` and `primeintellect`, two clouds
of the price catalog without a built-in provider, by entry point only (plugin_pkg/pyproject.toml). It still
plans with those clouds' catalog offers, and its scripted capacity errors move a
launch zone by zone, then to another region, then to another cloud, with every
attempt in the final error and in `launch --output json`.
"""

from __future__ import annotations

import json
import textwrap

import pytest
from helpers import run_cli

# Price order of H100:8 in the shared catalog for this task:
#   primeintellect/FI/FIN-02 15.77, primeintellect/FI/eu-north1 16.944,
#   primeintellect/US/us-west-3 23.92, shadeform/saltlakecity-usa-1 31.92
TASK = textwrap.dedent(
    """\
    resources:
      accelerators: H100:8
      any_of:
        - infra: primeintellect/FI
        - infra: primeintellect/US/us-west-3
        - infra: shadeform/saltlakecity-usa-1
    run: echo "ran on $SKYPILOT_CLUSTER_INFO with GPUs $CUDA_VISIBLE_DEVICES"
    """
)
FULL = {
    "primeintellect/FI/FIN-02": "capacity",
    "primeintellect/FI/eu-north1": "capacity",
    "primeintellect/US/us-west-3": "capacity",
}


def _script(home, failures: dict[str, str]) -> None:
    (home / ".skyhop").mkdir(exist_ok=True)
    (home / ".skyhop" / "catalogcloud.json").write_text(json.dumps(failures))


def _run(home, site, *args):
    return run_cli(home, *args, PYTHONPATH=str(site))


def _calls(home) -> list[str]:
    return (home / ".skyhop" / "catalogcloud-calls").read_text().splitlines()


@pytest.fixture
def task_file(isolated_home):
    path = isolated_home / "task.yaml"
    path.write_text(TASK)
    return str(path)


def test_a_plugin_named_like_a_catalog_cloud_plans_with_its_catalog_offers(isolated_home, plugin_site):
    _script(isolated_home, {})
    result = _run(isolated_home, plugin_site, "optimize", "--gpus", "H100:8", "--infra", "shadeform", "--output", "json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    # The catalog's row (shadeform/vms.csv), not an offer the plugin listed: it lists none.
    assert (plan["cloud"], plan["instance_type"], plan["hourly_price"]) == ("shadeform", "lambdalabs_H100-sxm5x8", 31.92)
    unpinned = json.loads(_run(isolated_home, plugin_site, "optimize", "--gpus", "H100:8", "--output", "json").stdout)
    assert {c["cloud"] for c in unpinned["candidates"]} >= {"shadeform", "primeintellect"}


def test_capacity_errors_move_the_launch_zone_then_region_then_cloud(isolated_home, plugin_site, task_file):
    _script(isolated_home, FULL)
    try:
        result = _run(isolated_home, plugin_site, "launch", "-y", "-c", "fo", task_file, "--output", "json")
        assert result.returncode == 0, result.stderr
        assert _calls(isolated_home) == [
            "primeintellect/FI/FIN-02 capacity",  # a full zone ...
            "primeintellect/FI/eu-north1 capacity",  # ... moves to another zone of the same region,
            "primeintellect/US/us-west-3 capacity",  # then to another region,
            "shadeform/saltlakecity-usa-1 launched",  # then to another cloud
        ]
        out = json.loads(result.stdout)
        assert out["job_status"] == "SUCCEEDED"
        assert "with GPUs 0,1,2,3,4,5,6,7" in result.stderr  # the job really ran, with the 8 GPUs the agent was told of
        attempts = out["plan"]["attempts"]
        assert [(a["infra"], a["outcome"]) for a in attempts] == [
            ("primeintellect/FI/FIN-02", "failed"),
            ("primeintellect/FI/eu-north1", "failed"),
            ("primeintellect/US/us-west-3", "failed"),
            ("shadeform/saltlakecity-usa-1", "launched"),
        ]
        assert attempts[0]["blocked"] == {"cloud": "primeintellect", "region": "FI", "zone": "FIN-02", "instance_type": None, "spot": None}
        assert [a["scope"] for a in attempts] == ["zone", "zone", "zone", None]
        assert attempts[0]["instance_type"] == "datacrunch__8xH100_80GB__176__1480"
        assert attempts[-1]["instance_type"] == "lambdalabs_H100-sxm5x8"
        assert "scripted capacity failure" in attempts[0]["reason"]
        # Each failure was shown as it happened, before the job ran.
        live = [line for line in result.stderr.splitlines() if line.endswith("trying the next candidate.")]
        assert [line.split()[1] for line in live] == [a["infra"] for a in attempts[:3]], result.stderr
        assert "Blocked zone primeintellect/FI/FIN-02;" in live[0]
        assert result.stderr.index(live[-1]) < result.stderr.index("with GPUs 0,1,2,3,4,5,6,7")
        assert out["plan"]["chosen"] == "shadeform/saltlakecity-usa-1"
        rows = json.loads(_run(isolated_home, plugin_site, "status", "-o", "json").stdout)
        assert [(r["name"], r["provider"], r["region"]) for r in rows] == [("fo", "shadeform", "saltlakecity-usa-1")]
    finally:
        _run(isolated_home, plugin_site, "down", "--all", "-y")
        _run(isolated_home, plugin_site, "api", "stop")
    assert not (isolated_home / ".skyhop" / "catalogcloud" / "fo").exists()


def test_when_every_offer_fails_the_error_and_json_list_every_attempt(isolated_home, plugin_site, task_file):
    _script(isolated_home, {**FULL, "shadeform/saltlakecity-usa-1": "quota"})
    try:
        result = _run(isolated_home, plugin_site, "launch", "-y", "-c", "none", task_file, "--output", "json")
        assert result.returncode == 1 and "Traceback" not in result.stderr
        error = result.stderr[result.stderr.index("Tried 4 offer(s); none could be launched"):]
        out = json.loads(result.stdout)
        header = error.splitlines()[1].split()
        assert header == ["INFRA", "INSTANCE", "TYPE", "BLOCKED", "ERROR"], error
        for attempt, (infra, reason, blocked) in zip(out["attempts"], [
            ("primeintellect/FI/FIN-02", "capacity", "zone primeintellect/FI/FIN-02"),
            ("primeintellect/FI/eu-north1", "capacity", "zone primeintellect/FI/eu-north1"),
            ("primeintellect/US/us-west-3", "capacity", "zone primeintellect/US/us-west-3"),
            ("shadeform/saltlakecity-usa-1", "quota", "region shadeform/saltlakecity-usa-1"),
        ]):
            row = next(line for line in error.splitlines() if line.strip().startswith(infra))
            assert row.split()[:4] == [infra, attempt["instance_type"], *blocked.split()], error
            assert f"scripted {reason} failure" in row, error
        assert [a["scope"] for a in out["attempts"]] == ["zone", "zone", "zone", "region"]
        assert [a["infra"] for a in out["attempts"]] == [a.split()[0] for a in _calls(isolated_home)]
        assert out["attempts"][-1]["blocked"] == {"cloud": "shadeform", "region": "saltlakecity-usa-1", "zone": None, "instance_type": None, "spot": None}
        assert "Tried 4 offer(s)" in out["error"]
        assert json.loads(_run(isolated_home, plugin_site, "status", "-o", "json").stdout) == []
    finally:
        _run(isolated_home, plugin_site, "api", "stop")


@pytest.fixture
def plugins_in_process(plugin_site, monkeypatch):
    """The installed plugins, visible to this process's registry (as in a server started with them)."""
    from skyhop.providers import registry

    monkeypatch.syspath_prepend(str(plugin_site))
    for cached in (registry.plugin_factories, registry.get):
        cached.cache_clear()
    yield
    for cached in (registry.plugin_factories, registry.get):
        cached.cache_clear()


def test_a_resumed_launch_starts_from_the_blocked_set_in_its_request_log(isolated_home, plugins_in_process, tmp_path):
    """The attempts are events in the request's log: a request run again on that log does not retry what failed."""
    from skyhop.execution import launch, lifecycle
    from skyhop.execution.progress import Progress
    from skyhop.spec.task import Task
    from skyhop.state.store import StateStore

    _script(isolated_home, {})  # nothing fails now: only the log can keep the launch off FI
    log = tmp_path / "request.log"
    earlier = Progress(log)
    for zone in ("FIN-02", "eu-north1"):
        blocked = {"cloud": "primeintellect", "region": "FI", "zone": zone, "instance_type": None, "spot": None}
        earlier.attempt({"infra": f"primeintellect/FI/{zone}", "resources": "1x h (H100:8)", "cluster_hourly_price": 16.0, "outcome": "failed", "reason": "full", "blocked": blocked})
    earlier.close()
    task = Task.from_dict({"resources": {"accelerators": "H100:8", "any_of": [{"infra": "primeintellect/FI"}, {"infra": "shadeform/saltlakecity-usa-1"}]}, "run": "true"})
    with StateStore() as store:
        progress = Progress(log)
        try:
            info, plan = launch._provision(task, launch.LaunchOptions("resumed", "me"), progress, store)
            assert (info.provider, info.region) == ("shadeform", "saltlakecity-usa-1")
            assert _calls(isolated_home) == ["shadeform/saltlakecity-usa-1 launched"]
            assert [a["outcome"] for a in plan["attempts"]] == ["failed", "failed", "launched"]
        finally:
            lifecycle.teardown(store, "resumed")
            progress.close()


def test_each_retry_until_up_pass_tries_again_what_the_last_pass_ruled_out(isolated_home, plugins_in_process, tmp_path, monkeypatch):
    """Pass 1 finds every offer full; during the countdown capacity comes back; pass 2 launches on the cheapest again."""
    from skyhop.execution import launch, lifecycle, retry
    from skyhop.execution.progress import Progress
    from skyhop.spec.task import Task
    from skyhop.state.store import StateStore

    monkeypatch.setattr(retry, "FIRST_PAUSE_S", 0.01)
    _script(isolated_home, {"primeintellect": "capacity", "shadeform": "capacity"})
    log = tmp_path / "request.log"
    progress = Progress(log)
    countdown = progress.countdown

    def capacity_comes_back(left_s: float, what: str) -> None:
        _script(isolated_home, {})
        countdown(left_s, what)

    monkeypatch.setattr(progress, "countdown", capacity_comes_back)
    task = Task.from_dict({"resources": {"accelerators": "H100:8", "any_of": [{"infra": "primeintellect/FI"}, {"infra": "shadeform/saltlakecity-usa-1"}]}, "run": "true"})
    with StateStore() as store:
        try:
            result = launch.launch(task, launch.LaunchOptions("again", "me", detach_run=True, retry_until_up=True), progress, store)
            assert [c.split()[0] for c in _calls(isolated_home)] == [
                "primeintellect/FI/FIN-02", "primeintellect/FI/eu-north1", "shadeform/saltlakecity-usa-1",  # pass 1: all full
                "primeintellect/FI/FIN-02",  # pass 2 starts from the cheapest again, not from what pass 1 left
            ]
            assert result["plan"]["chosen"] == "primeintellect/FI/FIN-02"
            events = [json.loads(line) for line in log.read_text().splitlines()]
            assert any("countdown" in e for e in events)
        finally:
            lifecycle.teardown(store, "again")
            progress.close()
