"""Feature gating through the real CLI (issue 10 A2): a plugin's declared capabilities decide where a
task goes. The test plugin's `shadeform` honours custom images and disks; `primeintellect` (cheaper
for H100:8) sells no spot and puts one node in a cluster (tests/providers/plugin_pkg)."""

from __future__ import annotations

import json

import pytest
from helpers import run_cli


@pytest.fixture
def skyhop(isolated_home, plugin_site):
    (isolated_home / ".skyhop").mkdir(exist_ok=True)
    (isolated_home / ".skyhop" / "catalogcloud.json").write_text("{}")  # both plugin clouds enabled, nothing fails

    def run(*args):
        return run_cli(isolated_home, *args, PYTHONPATH=str(plugin_site))

    yield run
    run("down", "--all", "-y")
    run("api", "stop")


def _task(home, name: str, text: str) -> str:
    path = home / name
    path.write_text(text)
    return str(path)


def _requests(home) -> list[dict]:
    return [json.loads(line) for line in (home / ".skyhop" / "catalogcloud-requests").read_text().splitlines()]


def test_the_provider_declaring_image_and_disk_gets_the_task_although_pricier(isolated_home, skyhop):
    task = _task(isolated_home, "image.yaml", "resources:\n  accelerators: H100:8\n  image_id: docker:ubuntu:22.04\n  disk_size: 512\n  disk_tier: high\nrun: echo on-image\n")
    plan = json.loads(skyhop("optimize", task, "-o", "json").stdout)
    assert plan["cloud"] == "shadeform" and {c["cloud"] for c in plan["candidates"]} == {"shadeform"}
    result = skyhop("launch", "-y", "-c", "img", task)
    assert result.returncode == 0 and "on-image" in result.stdout, result.stderr
    assert _requests(isolated_home) == [{
        "cloud": "shadeform", "num_nodes": 1, "use_spot": False, "image_id": "docker:ubuntu:22.04",
        "disk_size_gb": 512, "disk_tier": "high", "ports": [],
    }]
    # Without them, the cheaper primeintellect is back.
    assert json.loads(skyhop("optimize", "--gpus", "H100:8", "-o", "json").stdout)["cloud"] == "primeintellect"


def test_a_field_no_provider_honours_gets_one_paragraph_from_optimize_dryrun_and_launch(isolated_home, skyhop):
    task = _task(isolated_home, "tier.yaml", "resources:\n  accelerators: H100:8\n  network_tier: best\nrun: echo never\n")
    message = "choosing the network tier (resources.network_tier) is not supported yet on primeintellect, shadeform; to run the task: remove resources.network_tier."
    for verb in (("optimize", task), ("launch", "--dryrun", "-c", "tier", task), ("launch", "-y", "-c", "tier", task)):
        result = skyhop(*verb)
        assert result.returncode != 0 and message in result.stderr, (verb, result.stderr)
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert "Traceback" not in result.stderr and len(errors) == 1 and message in errors[0], (verb, result.stderr)
    assert not (isolated_home / ".skyhop" / "catalogcloud-calls").exists()  # nothing was launched
    # A flag says the same, naming the flag.
    flagged = skyhop("launch", "-y", "-c", "tier", "--infra", "primeintellect", "--image-id", "img-1", "--gpus", "H100:8", "echo never")
    assert flagged.returncode != 0 and "a custom machine image (resources.image_id or --image-id) is not supported yet on primeintellect;" in flagged.stderr


def test_a_one_node_provider_is_skipped_for_two_nodes_and_a_no_spot_one_for_spot(isolated_home, skyhop):
    two = json.loads(skyhop("optimize", "--gpus", "H100:8", "--num-nodes", "2", "-o", "json").stdout)
    assert {c["cloud"] for c in two["candidates"]} == {"shadeform"}
    result = skyhop("launch", "-y", "-c", "pair", "--gpus", "H100:8", "--num-nodes", "2", "echo rank $SKYPILOT_NODE_RANK")
    assert result.returncode == 0, result.stderr
    assert [(r["cloud"], r["num_nodes"]) for r in _requests(isolated_home)] == [("shadeform", 2)]
    # Spot: primeintellect lists spot prices but sells none here; shadeform lists none.
    spot = skyhop("optimize", "--gpus", "H100:8", "--use-spot")
    assert spot.returncode != 0, spot.stdout
    assert "no spot offers of H100:8 on the enabled clouds (flakycloud, shadeform, toycloud)" in spot.stderr, spot.stderr
    assert "Elsewhere, spot machines (resources.use_spot or --use-spot) are not sold by primeintellect; to run the task: ask for on-demand machines." in spot.stderr
