"""The SDK takes the shapes the CLI takes and refuses the rest by name; the API's refusals name the caller's field.

Before: `skyhop.jobs_launch([{"run": ...}, ...])` (a pipeline of dicts) died
with AttributeError inside the client, `jobs_logs("3")` with a ValueError,
and a refused `--name` read "body.name: String should have at most 256
characters", the request body's spelling rather than the flag the user typed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import run_cli
from server.conftest import shared_api_server  # noqa: F401  (one real server for the module)

import skyhop
from skyhop.client.api import task_field
from skyhop.client.http import InvalidRequest
from skyhop.errors import NotFoundError


@pytest.fixture
def no_server(monkeypatch):
    """An API address nothing listens on: a wrong argument must be refused before anything is sent."""
    monkeypatch.setenv("SKYHOP_API_SERVER_URL", "http://127.0.0.1:9")


@pytest.fixture
def remote(shared_api_server, monkeypatch):  # noqa: F811
    monkeypatch.setenv("SKYHOP_API_SERVER_URL", shared_api_server.url)
    monkeypatch.setenv("SKYHOP_API_TOKEN", shared_api_server.token)
    return shared_api_server


WRONG = [
    (lambda: skyhop.jobs_launch(5), TypeError, "tasks must be"),
    (lambda: skyhop.jobs_launch([["echo"]]), TypeError, "tasks[0] must be"),
    (lambda: skyhop.jobs_launch(["a.yaml", "b.yaml"]), TypeError, "tasks[0] must be"),
    (lambda: skyhop.jobs_launch([]), ValueError, "tasks is empty"),
    (lambda: skyhop.jobs_launch({"run": "x"}, num_jobs="2"), TypeError, "num_jobs must be an int"),
    (lambda: skyhop.jobs_launch({"run": "x"}, num_jobs=0), ValueError, "num_jobs must be from 1"),
    (lambda: skyhop.jobs_launch({"run": "x"}, name=7), TypeError, "name must be a string"),
    (lambda: skyhop.jobs_launch({"run": "x"}, pool=["p"]), TypeError, "pool must be a string"),
    (lambda: list(skyhop.jobs_logs("3")), TypeError, "job_id must be a job id (int)"),
    (lambda: list(skyhop.jobs_logs(10**30)), ValueError, "job_id must be from 1"),
    (lambda: skyhop.jobs_queue(job_ids=[True]), TypeError, "job_ids[0] must be a job id"),
    (lambda: skyhop.jobs_cancel(job_ids="3"), TypeError, "job_ids must be a list of job ids"),
    (lambda: skyhop.jobs_cancel(name=3), TypeError, "name must be a string"),
    (lambda: skyhop.jobs_pool_apply({"run": "x"}, None), TypeError, "name must be a string"),
    (lambda: skyhop.jobs_pool_apply(3, "p"), TypeError, "task must be"),
    (lambda: skyhop.jobs_pool_down(names=3), TypeError, "names must be a list of names"),
    (lambda: skyhop.jobs_pool_status(name=3), TypeError, "name must be a string"),
    (lambda: skyhop.launch(3), TypeError, "task must be"),
    (lambda: skyhop.launch({"run": "x"}, cluster=3), TypeError, "cluster must be a string"),
    (lambda: skyhop.exec(None, "c"), TypeError, "task must be"),
    (lambda: skyhop.status(5), TypeError, "names must be a list of names"),
    (lambda: skyhop.cancel("c", job_ids=["1"]), TypeError, "job_ids[0] must be a job id"),
    (lambda: list(skyhop.logs("c", "1")), TypeError, "job_id must be a job id"),
    (lambda: list(skyhop.logs("c", 1, tail=-1)), ValueError, "tail must be from 0"),
    (lambda: skyhop.optimize(5), TypeError, "task must be"),
    (lambda: skyhop.optimize_pipeline([3]), TypeError, "pipeline[0] must be"),
]


@pytest.mark.parametrize(("call", "error", "words"), WRONG, ids=[str(i) for i in range(len(WRONG))])
def test_a_wrong_type_is_a_clear_error_naming_the_argument(no_server, call, error, words):
    with pytest.raises(error) as caught:
        call()
    assert words in str(caught.value)


def test_every_shape_the_cli_takes_reaches_the_server(remote, tmp_path):
    """A list of dicts, a dict, a Task, a Pipeline, a YAML path: each is sent (the unknown pool is the server's answer,
    after the body passed its typed schema; nothing is launched)."""
    pipeline_yaml = tmp_path / "pipe.yaml"
    pipeline_yaml.write_text("name: two\n---\nrun: echo a\n---\nrun: echo b\nenvs:\n  N: 1\n")
    shapes = [
        [{"run": "echo a"}, {"run": "echo b", "envs": {"N": 1}}],
        ({"run": "echo a"},),
        {"run": "echo a", "resources": {"cpus": 1}},
        skyhop.Task(run="echo a"),
        skyhop.Pipeline.from_yaml(pipeline_yaml),
        str(pipeline_yaml),
        Path(pipeline_yaml),
    ]
    for shape in shapes:
        with pytest.raises(NotFoundError, match="No pool named 'nowhere'"):
            skyhop.jobs_launch(shape, pool="nowhere")
    with pytest.raises(skyhop.SpecError, match=r"task\[1\].resources.cpus"):
        skyhop.jobs_launch([{"run": "a"}, {"run": "b", "resources": {"cpus": "many"}}])  # the dict is parsed as a task


def test_a_refused_argument_is_named_as_the_caller_wrote_it(remote, isolated_home):
    with pytest.raises(InvalidRequest) as caught:
        skyhop.jobs_launch({"run": "echo"}, name="n" * 300)
    assert str(caught.value).startswith("name: ") and "body." not in str(caught.value)
    with pytest.raises(InvalidRequest) as caught:
        skyhop.launch({"run": "echo"}, "c", idle_minutes="soon", stream=False)
    assert str(caught.value).startswith("idle_minutes: ") and "body." not in str(caught.value)
    env = {"SKYHOP_API_SERVER_URL": remote.url, "SKYHOP_API_TOKEN": remote.token}
    for args, flag in [
        (("jobs", "launch", "-y", "-d", "-n", "n" * 300, "echo"), "-n/--name"),
        (("jobs", "launch", "-y", "-d", "--pool", "p" * 300, "echo"), "-p/--pool"),
        (("jobs", "cancel", "-y", "-n", ""), "-n/--name"),
    ]:
        result = run_cli(isolated_home, *args, **env)
        assert result.returncode == 1, result
        assert result.stderr.startswith(f"Error: {flag}: ") and "body" not in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("field", "count", "shown"),
    [
        ("body.tasks.0.run", 1, "run"),
        ("body.tasks.1.envs.A", 2, "task[1].envs.A"),
        ("body.tasks.0", 1, "task"),
        ("body.task.envs.A", 1, "envs.A"),
        ("body.tasks.3", 4, "task[3]"),
        ("body.num_jobs", 1, "num_jobs"),
    ],
)
def test_task_fields_are_spelt_as_in_the_task_file(field, count, shown):
    assert task_field(field, count) == shown
