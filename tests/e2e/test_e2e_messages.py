"""What a new user reads: names they need, and hints that work for the command they typed."""

from __future__ import annotations

import re


def test_launch_prints_the_generated_cluster_name(sky):
    result = sky("launch", "-y", "echo named", check=True)
    match = re.search(r"New cluster '([a-z0-9-]+)'", result.err)
    assert match and match.group(1) in sky.clusters()


def test_launch_hints_only_at_flags_that_exist(sky):
    result = sky("launch", "-y", "--gpus", "H100:1", "echo x")
    assert result.code != 0
    # `launch --all-clouds` does not exist; the hint names the command that has it.
    assert "skyhop optimize --all-clouds" in result.err
    assert not re.search(r"(?<!optimize )--all-clouds", result.err)


def test_a_pin_to_a_cloud_without_credentials_says_so(sky):
    result = sky("launch", "-y", "--gpus", "H100:8", "--infra", "nebius", "echo x")  # a cloud skyhop only prices
    assert result.code != 0
    assert "pinned to nebius" in result.err and "no credentials" in result.err
    assert "no enabled cloud" not in result.err


def test_optimize_header_counts_only_the_pinned_cloud(sky):
    out = sky("optimize", "--all-clouds", "--gpus", "H100:8", "--infra", "lambda", check=True).out
    assert out.startswith("Considered 1 cloud(s) (the catalog): lambda")


def test_plans_need_no_env_values_but_runs_do(sky):
    task = sky.task("nullenv.yaml", "envs:\n  TOKEN:\nsecrets:\n  KEY: null\nrun: echo $TOKEN\n")
    assert "Chosen: local" in sky("optimize", task, check=True).out
    assert "Nothing was created" in sky("launch", "--dryrun", task, check=True).out
    refused = sky("launch", "-y", task)
    assert refused.code != 0 and "--env KEY=..." in refused.err and sky.clusters() == {}


def test_a_task_name_that_cannot_be_a_job_name_is_refused_before_anything_is_created(sky):
    """Parsing takes any name (SkyPilot files must load); the job name it becomes is checked at launch."""
    task = sky.task("escape.yaml", 'name: "train\\e[31m\\nforged line"\nrun: echo never\n')
    refused = sky("launch", "-y", "-c", "named", task)
    assert refused.code != 0 and "Invalid task name" in refused.err and "Traceback" not in refused.err
    assert sky.clusters() == {}
    fine = sky.task("fine.yaml", "name: train-llama.v2\nrun: echo ran\n")
    assert "ran" in sky("launch", "-y", "-c", "named", fine, check=True).out
