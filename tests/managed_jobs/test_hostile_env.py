"""Large environments: refused when the task is made, with the limit, instead of E2BIG on the node.

Before, a 3 MB env value in a task file was accepted, the job was launched,
and it ended FAILED minutes later with "job driver error: [Errno 7] Argument
list too long: 'bash'" (the kernel caps one NAME=value at 128 KiB, the whole
environment at 2 MiB). Now the CLI, the SDK and the API refuse it at once,
and a task at the limits runs with every byte of its variables.
"""

from __future__ import annotations

import pytest
from e2e_support import wait_for

import skyhop
from skyhop.spec.task import MAX_ENV_ENTRY_BYTES, MAX_ENV_TOTAL_BYTES

pytestmark = pytest.mark.slow


def _largest_value(name: str) -> str:
    return "v" * (MAX_ENV_ENTRY_BYTES - len(name) - 2)


def test_a_5_mb_env_is_refused_at_once_and_the_largest_allowed_runs(jobs_cli, tmp_path):
    sky = jobs_cli
    big = tmp_path / "big.yaml"
    big.write_text("run: echo never\nenvs:\n  BIG: " + "x" * 3_000_000 + "\n")  # under the 4 MiB task file cap
    refused = sky("jobs", "launch", "-y", "-d", str(big))
    assert refused.code == 1 and "envs.BIG" in refused.err and "128 KiB" in refused.err, refused.err
    assert len(refused.err.strip().splitlines()) == 1
    many = tmp_path / "many.yaml"
    many.write_text("run: echo never\nenvs:\n" + "".join(f"  E{i}: {'x' * 100_000}\n" for i in range(35)))  # 3.5 MB, each under the cap
    refused = sky("jobs", "launch", "-y", "-d", str(many))
    assert refused.code == 1 and "1 MiB" in refused.err, refused.err
    assert sky.json("jobs", "queue") == []

    count = MAX_ENV_TOTAL_BYTES // MAX_ENV_ENTRY_BYTES - 1  # room left for skyhop's own variables and the node's
    names = [f"E{i}" for i in range(count)]
    task = tmp_path / "fits.yaml"
    task.write_text(
        "run: |\n" + "".join(f"  echo {n}=${{#{n}}}\n" for n in names) + "  echo SECRET=${#TOKEN}\n"
        + "envs:\n" + "".join(f"  {n}: {_largest_value(n)}\n" for n in names)
        + "secrets:\n  TOKEN: null\n"
    )
    out = sky("jobs", "launch", "-y", "--output", "json", "--secret", f"TOKEN={'s' * 100_000}", str(task), check=True)
    (job_id,) = __import__("json").loads(out.out)["job_ids"]
    wait_for(lambda: sky.json("jobs", "queue")[0]["status"] in ("SUCCEEDED", "FAILED"), 180, "the job ended")
    logs = sky("jobs", "logs", "--no-follow", str(job_id)).out
    assert sky.json("jobs", "queue")[0]["status"] == "SUCCEEDED", logs
    for name in names:
        assert f"{name}={len(_largest_value(name))}" in logs
    assert "SECRET=100000" in logs


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"envs": {"A": "x" * MAX_ENV_ENTRY_BYTES}}, "envs.A"),
        ({"secrets": {"TOKEN": "x" * MAX_ENV_ENTRY_BYTES}}, "secrets.TOKEN"),
        ({"envs": {f"A{i}": "x" * 100_000 for i in range(11)}}, "envs"),
        ({"envs": {"A": 1}}, "envs.A"),
        ({"envs": {"A": "a\0b"}}, "envs.A"),
    ],
)
def test_the_sdk_refuses_an_environment_no_process_can_take(kwargs, field):
    with pytest.raises(skyhop.SpecError) as caught:
        skyhop.Task(run="true", **kwargs)
    assert caught.value.path == field
    assert "x" * 100 not in str(caught.value)  # the value (maybe a secret) is not echoed


@pytest.mark.parametrize("remote", [False, True], ids=["local-node", "remote-node"])
def test_the_largest_environment_a_task_may_have_starts_on_either_kind_of_node(tmp_path, remote):
    """The bound holds on the node's side too: at the limits, the variables reach the script whole, whether
    the agent starts it here (Popen's env) or through a remote node's command line (the environment on stdin)."""
    import subprocess

    from skyhop_agent import config, nodeexec

    count = MAX_ENV_TOTAL_BYTES // MAX_ENV_ENTRY_BYTES - 1
    env = {f"E{i}": _largest_value(f"E{i}") for i in range(count)}
    skyhop.Task(run="true", envs=env)  # the task accepts it
    script = tmp_path / "run.sh"
    nodeexec.write_script(str(script), "".join(f'echo "{name}=${{#{name}}}"\n' for name in env))
    node = config.Node("127.0.0.1", str(tmp_path), None, ["sh", "-c"] if remote else None)
    command = nodeexec.node_command(node, str(script), env)
    # A remote node's script ends when its stdin does (the driver holds it open): it is closed only after the output.
    proc = subprocess.Popen(command.argv, cwd=command.cwd, env=command.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(command.preamble)
    proc.stdin.flush()
    out = proc.stdout.read()
    assert proc.wait(timeout=60) == 0, proc.communicate()[1][-500:]
    proc.stdin.close()
    assert out.decode().split() == [f"{name}={len(value)}" for name, value in env.items()]
