"""Lambda Cloud end to end: the real CLI and API server, the provider's real HTTP calls to the
replay server (cloudsim/lambda_api.py), and namespace hosts that take on the instances' private
addresses, so the job really runs over SSH on "the instances"."""

from __future__ import annotations

import json
import os
import signal
import threading

import pytest
from cloudsim.lambda_api import Fault, LambdaApi
from cloudsim.replay import assert_secret_nowhere, configure_cloud
from e2e_support import pid_gone, stop_api_server, wait_for

pytestmark = pytest.mark.slow

GPUS = ("--infra", "lambda", "--gpus", "A10:1")


@pytest.fixture
def lambda_cloud(cloud_farm, sky):
    server = LambdaApi(adopter=cloud_farm, host=f"{cloud_farm.prefix}.1")
    configure_cloud(sky.skyhop_home, "lambda", server.endpoint)
    sky.env["LAMBDA_API_KEY"] = server.token
    try:
        yield server
        sky.teardown()
        assert_secret_nowhere(sky.skyhop_home, server.token)
        assert server.live() == {} and server.keys == {}, "down left instances or SSH keys in the account"
        assert cloud_farm.held() == {}
    finally:
        for instance in server.live().values():  # a failed test must not strand the farm's hosts
            cloud_farm.release(instance["private_ip"])
        server.stop()


def test_two_nodes_run_a_job_cannot_stop_and_down_leaves_nothing(sky, lambda_cloud):
    task = sky.task("two.yaml", "num_nodes: 2\nresources:\n  infra: lambda\n  accelerators: A10:1\nrun: |\n"
                    '  echo "rank=$SKYPILOT_NODE_RANK ips=$(echo "$SKYPILOT_NODE_IPS" | paste -sd,) user=$(id -un)"\n')
    result = sky("launch", "-y", "-c", "lc", task, timeout=300)
    assert result.code == 0, result.out + result.err
    launched = lambda_cloud.live()
    private = [i["private_ip"] for i in launched.values()]
    assert len(private) == 2
    lines = sorted(line.split(") ", 1)[-1] for line in result.out.splitlines() if "rank=" in line)
    assert lines == [f"rank={r} ips={','.join(private)} user=root" for r in range(2)]
    launch = lambda_cloud.calls("POST", "/api/v1/instance-operations/launch")
    assert len(launch) == 1 and launch[0].body["quantity"] == 2 and launch[0].body["instance_type_name"] == "gpu_1x_a10"
    assert sky.clusters()["lc"]["status"] == "UP"

    refused = sky("stop", "-y", "lc")
    assert refused.code == 1 and "cannot stop" in refused.err and "skyhop down lc" in refused.err
    assert sky.clusters()["lc"]["status"] == "UP"

    assert sky("down", "-y", "lc", timeout=120).code == 0
    assert lambda_cloud.live() == {} and lambda_cloud.keys == {} and sky.json("status") == []
    terminated = lambda_cloud.calls("POST", "/api/v1/instance-operations/terminate")
    assert [sorted(c.body["instance_ids"]) for c in terminated] == [sorted(launched)]


def test_no_capacity_in_one_region_fails_over_to_the_next(sky, lambda_cloud):
    first = sky.json("optimize", *GPUS)["region"]
    lambda_cloud.no_capacity.add(first)
    plan = sky.json("launch", "-y", "-c", "lf", *GPUS, "echo ran-on-lambda")["plan"]
    failed, launched = plan["attempts"]
    assert failed["infra"] == f"lambda/{first}" and failed["outcome"] == "failed" and failed["scope"] == "region"
    assert "insufficient-capacity" in failed["reason"]
    assert launched["outcome"] == "launched" and launched["infra"] != failed["infra"]
    assert plan["chosen"] == launched["infra"]
    [instance] = lambda_cloud.live().values()
    assert f"lambda/{instance['region']['name']}" == plan["chosen"]
    assert sky("down", "-y", "lf").code == 0


def test_a_refused_key_blocks_the_cloud_with_one_paragraph(sky, lambda_cloud):
    # Accepted for listing (check passes), refused when launching: the whole cloud is blocked, not one region.
    lambda_cloud.fail(Fault("launch", "global/invalid-api-key", "API key was invalid, expired, or deleted.", status=401))
    result = sky("launch", "-y", "-c", "la", *GPUS, "echo never", "--output", "json", timeout=300)
    assert result.code == 1 and "Traceback" not in result.err

    attempts = json.loads(result.out)["attempts"]
    assert len(attempts) == 1 and attempts[0]["scope"] == "cloud" and "refused the API key" in attempts[0]["reason"]
    assert lambda_cloud.live() == {} and lambda_cloud.keys == {}
    # A key refused everywhere: `check` says why, and a launch pinned to Lambda says so in a paragraph.
    stop_api_server(sky.skyhop_home)  # the server reads the key from the environment it started with
    sky.env["LAMBDA_API_KEY"] = "not-the-key"
    check = sky("check", "--output", "json")
    lam = next(c for c in json.loads(check.out) if c["name"] == "lambda")
    assert not lam["enabled"] and "global/invalid-api-key" in lam["reason"] and "not-the-key" not in check.out
    refused = sky("launch", "-y", "-c", "la", *GPUS, "echo never")
    assert refused.code == 1 and "lambda is not usable here: Lambda Cloud refused the API key" in refused.err
    assert "not-the-key" not in refused.err and "`skyhop check`.." not in refused.err


def test_server_killed_after_the_launch_call_leaves_nothing_behind(sky, lambda_cloud):
    """kill -9 between Lambda's launch answer and the record: the next server finds the instance by
    its name, removes it, launches again; `down` then leaves nothing in the account."""
    gate = threading.Event()
    lambda_cloud.launch_gate = gate
    client = sky.popen("launch", "-y", "-c", "crashy", *GPUS, "echo after-the-crash")
    crashed = wait_for(lambda: list(lambda_cloud.live()), what="the launch call to create the instance")
    pid = sky.server_pid()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: pid_gone(pid), what="the server to die")
    lambda_cloud.launch_gate = None
    gate.set()
    _, err = client.communicate(timeout=60)
    assert client.returncode != 0 and "Traceback" not in err
    sky("api", "start", check=True)  # the next server resumes the launch: tears down what the crash left, then launches
    launch = next(r for r in sky.json("api", "status")["requests"] if r["name"] == "launch")
    assert "after-the-crash" in sky("api", "logs", launch["request_id"], check=True, timeout=300).out
    assert not set(crashed) & set(lambda_cloud.live()) and len(lambda_cloud.live()) == 1
    assert len(lambda_cloud.keys) == 1
    assert sky("down", "-y", "crashy").code == 0
    assert lambda_cloud.live() == {} and lambda_cloud.keys == {}


def test_autodown_the_head_terminates_its_own_instances(sky, lambda_cloud):
    """Lambda cannot stop, so autostop is autodown: with no client around, the head's agent runs the hook,
    which calls terminate with the key from its 0600 file; a refresh then removes the key and the record."""
    sky("launch", "-y", "-c", "ad", *GPUS, "-i", "0.05", "--down", "echo bye", check=True, timeout=300)
    [instance] = lambda_cloud.live().values()
    terminated = wait_for(lambda: lambda_cloud.calls("POST", "/api/v1/instance-operations/terminate"), timeout=180,
                          what="the head to terminate its instance")
    assert [c.body for c in terminated] == [{"instance_ids": [instance["id"]]}] and lambda_cloud.live() == {}
    assert sky.json("status", "--refresh") == [] and lambda_cloud.keys == {}


def test_show_gpus_available_asks_the_server_for_lambdas_live_capacity(sky):
    server = LambdaApi()  # no machines needed: only instance types are asked
    try:
        configure_cloud(sky.skyhop_home, "lambda", server.endpoint)
        sky.env["LAMBDA_API_KEY"] = server.token
        server.no_capacity.add("us-east-1")
        rows = sky.json("show-gpus", "A10", "--infra", "lambda", "--all-regions", "--available")
        by_region = {r["region"]: r["available"] for r in rows if r["instance_type"] == "gpu_1x_a10"}
        assert by_region["us-east-1"] is False and by_region["us-west-1"] is True and len(by_region) > 2
        text = sky("show-gpus", "A10", "--infra", "lambda", "--all-regions", "--available", check=True).out
        assert "AVAILABLE" in text.splitlines()[0]
        assert next(line for line in text.splitlines() if "us-east-1 " in line + " ").split()[-1] == "no"
        # Bad input is one paragraph before any cloud call: a region or instance type Lambda does not have.
        for bad in (("--infra", "lambda/mars-1", "--gpus", "A10:1"), ("--infra", "lambda", "--instance-type", "gpu_9x_nothing")):
            wrong = sky("launch", "-y", "-c", "lx", *bad, "echo never")
            assert wrong.code == 1 and bad[-1] in wrong.err and "Traceback" not in wrong.err
        assert not server.calls("POST") and server.live() == {}
        # Plain show-gpus stays in the CLI process and asks nobody.
        asked = len(server.calls())
        assert "AVAILABLE" not in sky("show-gpus", "A10", "--infra", "lambda", check=True).out and len(server.calls()) == asked
        # Other clouds have no live data: `-`; a cloud that cannot answer says why.
        other = sky.json("show-gpus", "H100", "--available")
        assert {r["available"] for r in other if r["cloud"] != "lambda"} == {None}
        stop_api_server(sky.skyhop_home)
        sky.env["LAMBDA_API_KEY"] = "k3y-not-valid"
        refused = sky("show-gpus", "A10", "--infra", "lambda", "--available", check=True).out
        assert "Availability unknown: lambda: Lambda Cloud refused the API key" in refused and "k3y-not-valid" not in refused
    finally:
        server.stop()
