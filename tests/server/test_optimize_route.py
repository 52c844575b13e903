"""`POST /api/v1/optimize`: the server plans `skyhop optimize`; its answer is the documented JSON, bad bodies are 4xx."""

from __future__ import annotations

import json

import pytest
from helpers import REPO, run_cli

from server.api_http import send
from server.test_hostile_input import assert_refused


def _plan_here(tasks, **options):
    """What the planner answers in this process, for comparison (same catalog, no credentials)."""
    from skyhop import sdk
    from skyhop.spec.pipeline import Pipeline
    from skyhop.spec.task import Task

    parsed = [Task.from_dict(t) for t in tasks]
    if len(parsed) == 1:
        return sdk.optimize(parsed[0], **options).to_json()
    return sdk.optimize_pipeline(Pipeline.chain(parsed), **options).to_json()


def test_a_task_gets_the_plan_document(shared_api_server):
    task = {"num_nodes": 2, "resources": {"accelerators": {"H100": 8, "H200": 8}, "use_spot": True}}
    answer = send(shared_api_server, "POST", "/api/v1/optimize", json_body={"tasks": [task], "all_clouds": True, "hours": 3})
    assert answer.status == 200, answer.text
    assert answer.json == _plan_here([task], all_clouds=True, hours=3)


def test_several_tasks_with_edges_get_a_placement(shared_api_server):
    from skyhop.spec.pipeline import Pipeline

    pipeline = Pipeline.from_yaml_str((REPO / "examples" / "pipeline.yaml").read_text())
    tasks = [t.to_dict() for t in pipeline.tasks]
    body = {"tasks": tasks, "edges": [list(e) for e in pipeline.edges], "name": pipeline.name, "all_clouds": True}
    answer = send(shared_api_server, "POST", "/api/v1/optimize", json_body=body)
    assert answer.status == 200, answer.text
    assert answer.json["stages"] and answer.json == _plan_here(tasks, all_clouds=True) | {"pipeline": pipeline.name}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tasks": []}, "tasks"),
        ({}, "tasks"),
        ({"tasks": {"run": "x"}}, "tasks"),
        ({"tasks": [{}], "hours": "abc"}, "hours"),
        ({"tasks": [{}], "all_clouds": "maybe"}, "all_clouds"),
        ({"tasks": [{}], "edges": [[0]]}, "edges"),
        ({"tasks": [{}], "surprise": 1}, "surprise"),
        ({"tasks": [{"resources": {"accelerators": "H100:x"}}]}, "resources.accelerators"),
        ({"tasks": [{}, {}], "edges": [[0, 5]]}, "edge"),
        ({"tasks": [{}], "all_clouds": True, "hours": 0}, "run time must be positive"),
    ],
)
def test_malformed_bodies_get_4xx_naming_the_problem(shared_api_server, body, field):
    assert_refused(send(shared_api_server, "POST", "/api/v1/optimize", json_body=body), field)


def test_infinite_hours_are_refused(shared_api_server):
    sent = '{"tasks": [{}], "hours": Infinity}'
    assert_refused(send(shared_api_server, "POST", "/api/v1/optimize", body=sent, headers={"Content-Type": "application/json"}))


def test_an_infeasible_task_is_the_infeasible_code(shared_api_server):
    answer = send(shared_api_server, "POST", "/api/v1/optimize", json_body={"tasks": [{"resources": {"accelerators": "H100:16"}}], "all_clouds": True})
    assert answer.status == 400 and answer.json["code"] == "infeasible" and "H100:8 is the largest" in answer.json["detail"]


def test_optimize_plans_with_the_servers_credentials_not_the_shells(isolated_home):
    """One door: `optimize` agrees with `check` and `launch --dryrun`, which run on the API server."""
    try:
        assert run_cli(isolated_home, "api", "start").returncode == 0  # no cloud credentials where the server runs
        shell = {"NEBIUS_IAM_TOKEN": "only-in-this-shell"}
        planned = run_cli(isolated_home, "optimize", "--gpus", "H100:8", "-o", "json", **shell)
        assert planned.returncode == 1 and "no enabled cloud (local) offers 'H100'" in planned.stderr, planned.stderr
        dryrun = run_cli(isolated_home, "launch", "--dryrun", "-c", "dry", "--gpus", "H100:8", "echo", **shell)
        assert dryrun.returncode == 1 and "no enabled cloud (local) offers 'H100'" in dryrun.stderr, dryrun.stderr
        enabled = [r["name"] for r in json.loads(run_cli(isolated_home, "check", "-o", "json", **shell).stdout) if r["enabled"]]
        assert enabled == ["local"]
        # A server started with the key plans with it (the key is the server's now).
        run_cli(isolated_home, "api", "stop")
        restarted = run_cli(isolated_home, "optimize", "--gpus", "H100:8", "-o", "json", **shell)
        assert restarted.returncode == 0, restarted.stderr
        assert json.loads(restarted.stdout)["considered_clouds"] == ["nebius"]
    finally:
        run_cli(isolated_home, "api", "stop")
