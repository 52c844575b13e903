"""Bad input through every verb: a clear message, a non-zero exit, never a traceback."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "args",
    [
        ("exec", "ghost", "echo hi"),
        ("queue", "ghost"),
        ("logs", "ghost"),
        ("cancel", "ghost", "1"),
        ("stop", "-y", "ghost"),
        ("start", "ghost"),
        ("autostop", "ghost", "-i", "5"),
        ("status", "ghost"),
    ],
)
def test_unknown_cluster(sky, args):
    result = sky(*args)
    if args[0] == "status":
        assert result.code == 0 and "No cluster named ghost" in result.out
        return
    assert result.code != 0
    assert "Cluster 'ghost' does not exist" in result.err


def test_malformed_yaml_names_the_field(sky):
    task = sky.task("bad.yaml", "resources:\n  cpus: lots\nrun: echo\n")
    result = sky("launch", "-y", task)
    assert result.code != 0 and "resources.cpus" in result.err
    assert sky.clusters() == {}


def test_missing_env_value(sky):
    task = sky.task("env.yaml", "envs:\n  TOKEN: null\nrun: echo $TOKEN\n")
    result = sky("launch", "-y", task)
    assert result.code != 0 and "--env TOKEN=" in result.err
    ok = sky("launch", "-y", "-c", "env", task, "--env", "TOKEN=abc")
    assert ok.code == 0 and "abc" in ok.out


def test_resources_the_machine_cannot_satisfy(sky):
    result = sky("launch", "-y", "--cpus", "4096", "echo hi")
    assert result.code != 0 and "cpus 4096" in result.err and "local" in result.err
    result = sky("launch", "-y", "--gpus", "H100:8", "echo hi")
    assert result.code != 0 and "H100" in result.err
    assert sky.clusters() == {}


def test_unknown_job_id(sky):
    sky("launch", "-y", "-c", "j", "echo hi", check=True)
    for args in (("logs", "j", "99"), ("cancel", "j", "99"), ("logs", "j", "99", "--status")):
        result = sky(*args)
        assert result.code != 0 and "99" in result.err, args


def test_exec_task_bigger_than_the_cluster(sky):
    sky("launch", "-y", "-c", "small", "echo hi", check=True)
    result = sky("exec", "small", "--num-nodes", "2", "echo hi")
    assert result.code != 0 and "2 nodes" in result.err


def test_bad_cluster_name(sky):
    result = sky("launch", "-y", "-c", "Bad_Name", "echo hi")
    assert result.code != 0 and "Invalid cluster name" in result.err
