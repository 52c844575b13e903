"""The resource flags SkyPilot users type, applied to a task as `optimize` plans it."""

from __future__ import annotations

import json

import pytest


def plan(skyhop, *args: str) -> dict:
    result = skyhop("optimize", "--all-clouds", "-o", "json", *args)
    assert result.code == 0, result.err
    return json.loads(result.out)


@pytest.mark.parametrize(
    ("legacy", "infra"),
    [
        (("--cloud", "lambda"), "lambda"),
        (("--cloud", "lambda", "--region", "us-east-1"), "lambda/us-east-1"),
        (("--region", "us-east-1"), "*/us-east-1"),
    ],
)
def test_cloud_region_zone_spell_infra(skyhop, shared_catalog, legacy, infra):
    assert plan(skyhop, "--gpus", "H100:8", *legacy) == plan(skyhop, "--gpus", "H100:8", "--infra", infra)


def test_legacy_pin_is_kept(skyhop, shared_catalog):
    chosen = plan(skyhop, "--gpus", "H100:8", "--cloud", "lambda", "--region", "us-east-1")
    assert (chosen["cloud"], chosen["region"]) == ("lambda", "us-east-1")


@pytest.mark.parametrize(
    ("args", "field", "words"),
    [
        (("--cloud", "lambda", "--infra", "aws"), "--infra", "cannot be combined with --cloud"),
        (("--cloud", "nosuchcloud"), "--cloud", "unknown cloud"),
        (("--zone", "a/b"), "--zone", "without '/'"),
        (("--region", " "), "--region", "without '/'"),
        (("--disk-size", "-1"), "--disk-size", "not a size"),
        (("--disk-size", "1.5GB"), "--disk-size", "whole number of GB"),
        (("--disk-tier", "turbo"), "--disk-tier", "unknown tier"),
        (("--ports", "0"), "--ports", "not a port"),
        (("--ports", "80; rm -rf /"), "--ports", "not a port"),
    ],
)
def test_bad_flag_values_name_the_flag(skyhop, args, field, words):
    result = skyhop("optimize", *args)
    assert result.code == 1
    assert f"Invalid field '{field}'" in result.err and words in result.err
    assert "Traceback" not in result.err


def test_disk_and_image_flags_reach_the_task(isolated_home):
    from skyhop.cli.task_options import load_pipeline

    flags = {"disk_size": "1TB", "disk_tier": "HIGH", "image_id": "docker:ubuntu:22.04", "ports": ("8080", "9000-9010"), "cloud": "aws", "zone": "us-east-1a"}
    resources = load_pipeline(None, flags).tasks[0].resources
    assert resources.disk_size == 1024 and resources.disk_tier == "high" and resources.image_id == "docker:ubuntu:22.04"
    assert resources.ports == ("8080", "9000-9010") and str(resources.infra) == "aws/*/us-east-1a"
