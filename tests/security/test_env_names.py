"""Environment variable names are data, never shell text: checked on every way into a task, and passed as data on the nodes."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from skyhop.spec.errors import SpecError
from skyhop.spec.task import Task
from skyhop_agent import config, jobspec, nodeexec
from skyhop_agent.errors import AgentError


def hostile_name(marker: Path) -> str:
    return f"X;touch {marker};Y"


# -- the spec: every way of building a task -----------------------------------

@pytest.mark.parametrize("name", ["X;touch /tmp/p;Y", "A=B", "X\n", "1ABC", "", "A B"])
def test_every_way_into_a_task_checks_names(name):
    with pytest.raises(SpecError, match="not a valid variable name"):
        Task.from_dict({"run": "true", "envs": {name: "1"}})
    with pytest.raises(SpecError, match=r"field 'envs[.[].*not a valid variable name") as caught:
        Task.from_dict({"run": "true"}, env_overrides={name: "1"})  # what the API server passes for `--env`
    assert "\n" not in str(caught.value)  # one paragraph, whatever the name holds
    with pytest.raises(SpecError, match=r"field 'secrets[.[].*not a valid variable name"):
        Task.from_dict({"run": "true"}, secret_overrides={name: "1"})
    with pytest.raises(SpecError, match="not a valid variable name"):
        Task(run="true", secrets={name: "1"})  # the Python SDK builds tasks directly


def test_override_values_are_checked_too():
    with pytest.raises(SpecError, match=r"field 'envs\.A'.*wrong type"):
        Task.from_dict({"run": "true"}, env_overrides={"A": ["not", "a", "string"]})
    assert Task.from_dict({"run": "true"}, env_overrides={"A": 3}).envs == {"A": "3"}


# -- the agent ------------------------------------------------------------------

def test_agent_refuses_a_hostile_name_at_submit(tmp_path):
    cluster = config.Cluster({
        "cluster_name": "c", "provider": "test", "user": "u",
        "nodes": [{"rank": 0, "ip": "127.0.0.1", "base": str(tmp_path), "workdir": None}],
        "resources": {"cpus": 1, "memory_gib": 1, "gpus": {}, "gpu_ids": {}}, "remove_on_down": [], "autostop_hooks": None,
    })
    with pytest.raises(AgentError, match="not a valid environment variable name"):
        jobspec.parse({"run": "true", "envs": {hostile_name(tmp_path / "p"): "1"}}, cluster)


def test_a_worker_gets_its_environment_as_data_not_shell_text(tmp_path):
    """Even a name that slipped past every check cannot run as a command on a worker."""
    marker = tmp_path / "pwned"
    node = config.Node("127.0.0.1", str(tmp_path), None, ["sh", "-c"])  # a prefix that runs its last argument as ssh does
    value = "it's $(touch " + str(marker) + ") `x` \n #end"
    script = tmp_path / "script.sh"
    script.write_text('printf %s "$GOOD"')
    command = nodeexec.node_command(node, str(script), {hostile_name(marker): "v", "GOOD": value})
    env_part = command.preamble.decode().split("#skyhop-env-end-")[0]
    assert "GOOD" not in env_part and value not in " ".join(command.argv)
    proc = subprocess.Popen(command.argv, env=command.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(command.preamble)
    proc.stdin.flush()  # held open until the end, as the driver does (closing it ends the job)
    out = proc.stdout.read()
    code = proc.wait(timeout=30)
    proc.stdin.close()
    assert code == 0 and out.decode() == value
    assert not marker.exists(), "an environment variable name ran as a shell command"


# -- the API server, as any HTTP client can call it -------------------------------

def _post(url: str, token: str, payload: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{url}/api/v1/requests", data=json.dumps(payload).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _outcome(url: str, token: str, payload: dict) -> str:
    """The error the server gives for `payload`: at once (4xx) or as the request's failure."""
    status, answer = _post(url, token, payload)
    if status >= 400:
        assert status < 500, answer
        return json.dumps(answer)
    request = urllib.request.Request(f"{url}/api/v1/requests/{answer['request_id']}", headers={"Authorization": f"Bearer {token}"})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with urllib.request.urlopen(request, timeout=30) as response:
            record = json.loads(response.read())
        if record["status"] not in ("PENDING", "RUNNING"):
            assert record["status"] == "FAILED", record
            return record["error"] or ""
        time.sleep(0.2)
    raise AssertionError("the request did not end")


def test_raw_api_refuses_hostile_names_with_the_field(sky, tmp_path):
    sky("api", "start", check=True)
    info = json.loads((sky.skyhop_home / "api" / "server.json").read_text())
    marker = tmp_path / "pwned"
    in_task = {"name": "launch", "body": {"task": {"run": "echo hi", "envs": {hostile_name(marker): "1"}}, "cluster": "inj1"}}
    as_override = {"name": "launch", "body": {"task": {"run": "echo hi"}, "envs": {hostile_name(marker): "1"}, "cluster": "inj2"}}
    for payload in (in_task, as_override):
        error = _outcome(info["url"], info["token"], payload)
        assert "envs" in error and "not a valid variable name" in error, error
    assert not marker.exists()
    assert sky.clusters() == {}


@pytest.mark.parametrize("flag", ["--secret", "--env"])
def test_cli_flags_name_a_bad_variable_name_before_looking_it_up(flag):
    """`--secret 'A;B'` is a bad name, not a variable missing from the caller's environment."""
    from skyhop.cli.task_options import parse_env_flags

    for item in ("A;B", "A;B=1"):
        with pytest.raises(SpecError, match=r"'" + flag + r".*not a valid variable name"):
            parse_env_flags((item,), flag)
