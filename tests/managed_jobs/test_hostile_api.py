"""Type confusion in the task of every route that takes one, over real HTTP to one shared server.

A raw API body is no YAML file: `{"run": 123}` was quietly turned into the
script "123" (the YAML parser's kindness to `run: 123`), env values that are
numbers became strings, and a huge integer deep in a section went wherever
the parser sent it. Now every such body is a 4xx naming the field (a 422 for
a top-level field of the task), never a 500 and never accepted.
"""

from __future__ import annotations

import pytest
from server.api_http import send
from server.conftest import shared_api_server  # noqa: F401  (one real server for the module)

HUGE = 10**30


def _routes(task: dict) -> list[tuple[str, dict, str]]:
    """(path, body, where the task sits in the answer's field names) for each route that takes a task."""
    return [
        ("/api/v1/managed-jobs", {"tasks": [task]}, "body.tasks.0"),
        ("/api/v1/managed-jobs", {"tasks": [{"run": "echo first"}, task]}, "body.tasks.1"),
        ("/api/v1/requests", {"name": "launch", "body": {"cluster": "c", "task": task}}, "body.launch.body.task"),
        ("/api/v1/requests", {"name": "exec", "body": {"cluster": "c", "task": task}}, "body.exec.body.task"),
        ("/api/v1/managed-jobs/pools", {"name": "p", "task": dict(task, pool={"workers": 1})}, "body.task"),
        ("/api/v1/optimize", {"tasks": [task]}, "body.tasks.0"),
    ]


#: (task, the field named in a 422 answer)
TOP_LEVEL = [
    ({"run": 123}, "run"),
    ({"run": ["echo", "hi"]}, "run"),
    ({"run": "echo", "setup": 1.5}, "setup"),
    ({"run": "echo", "name": 7}, "name"),
    ({"run": "echo", "envs": {"A": 1}}, "envs.A"),
    ({"run": "echo", "envs": {"A": True}}, "envs.A"),
    ({"run": "echo", "envs": {"A": HUGE}}, "envs.A"),
    ({"run": "echo", "envs": {"A": ["x"]}}, "envs.A"),
    ({"run": "echo", "envs": ["A=1"]}, "envs"),
    ({"run": "echo", "secrets": {"TOKEN": {"v": 1}}}, "secrets.TOKEN"),
    ({"run": "echo", "resources": ["cpus", 2]}, "resources"),
    ({"run": "echo", "file_mounts": ["/data"]}, "file_mounts"),
    ({"run": "echo", "file_mounts": {"/data": 5}}, "file_mounts./data"),
    ({"run": "echo", "volumes": {"/v": 5}}, "volumes./v"),
    ({"run": "echo", "workdir": 5}, "workdir"),
    ({"run": "echo", "num_nodes": HUGE}, "num_nodes"),
    ({"run": "echo", "num_nodes": True}, "num_nodes"),
    ({"run": "echo", "num_nodes": "2"}, "num_nodes"),
    ({"run": "echo", "api_server_access": "yes"}, "api_server_access"),
    ({"run": "echo", "service": [1]}, "service"),
    ({"run": "echo", "config": "x"}, "config"),
    ({"run": "echo", "inputs": {"s3://b/d": "lots"}}, "inputs"),
    ({"run": "echo", "surprise": 1}, "surprise"),
]

#: Nested sections are the parser's: a 400 naming the field (docs/json-output.md), never a 500.
NESTED = [
    ({"run": "echo", "resources": {"cpus": HUGE}}, "resources.cpus"),
    ({"run": "echo", "resources": {"disk_size": HUGE}}, "resources.disk_size"),
    ({"run": "echo", "resources": {"ports": [HUGE]}}, "resources.ports"),
    ({"run": "echo", "resources": {"accelerators": {"H100": HUGE}}}, "resources.accelerators"),
    ({"run": "echo", "resources": {"job_recovery": {"max_restarts_on_errors": HUGE}}}, "max_restarts_on_errors"),
    ({"run": "echo", "resources": {"any_of": {"cpus": 2}}}, "resources.any_of"),
    ({"run": "echo", "resources": {"use_spot": "maybe"}}, "resources.use_spot"),
]


def _cases(table: list[tuple[dict, str]]) -> list[tuple[str, dict, str]]:
    return [(path, body, f"{where}.{field}") for task, field in table for path, body, where in _routes(task)]


@pytest.mark.parametrize(("path", "body", "field"), _cases(TOP_LEVEL))
def test_a_top_level_field_of_the_wrong_type_is_a_422_naming_it(shared_api_server, path, body, field):  # noqa: F811
    answer = send(shared_api_server, "POST", path, json_body=body)
    assert answer.status == 422, (answer.status, answer.text)
    assert answer.json["code"] == "invalid_request"
    assert any(f.startswith(field) for f in answer.json["fields"]), answer.json


@pytest.mark.parametrize(("path", "body", "field"), _cases(NESTED))
def test_a_nested_field_of_the_wrong_type_or_size_is_a_4xx_naming_it(shared_api_server, path, body, field):  # noqa: F811
    answer = send(shared_api_server, "POST", path, json_body=body)
    assert 400 <= answer.status < 500, (answer.status, answer.text)
    assert field.split(".")[-1] in answer.json["detail"], answer.json
    assert "Traceback" not in answer.text


def test_every_task_the_parser_makes_has_the_typed_shape():
    """What the CLI and SDK send (`Task.to_dict`) always passes: the typing refuses raw bodies, never a real task."""
    from pathlib import Path

    from skyhop.server.schemas import TaskShape
    from skyhop.spec.pipeline import Pipeline
    from skyhop.spec.task import TASK_KEYS

    assert set(TaskShape.model_fields) == set(TASK_KEYS)
    corpus = sorted((Path(__file__).parent.parent / "spec" / "corpus" / "valid").glob("*.yaml"))
    assert len(corpus) > 20
    for path in corpus:
        for task in Pipeline.from_yaml(path).tasks:
            TaskShape.model_validate(task.to_dict(redact_secrets=False))
