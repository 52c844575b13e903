"""What an agent process costs to start: the modules each verb imports, and the argv parser that keeps argparse out.

Every agent call on a node is a fresh interpreter (~100 ms of CPU each before
this was looked at, nearly all of it imports), so the import set of the
frequent verbs is pinned here, measured in a real process started as the
broker starts it (`python -S -m skyhop_agent`), the way tests/test_import_guard.py
pins the CLI's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable

import pytest
from agent_harness import Agent, MakeCluster

from skyhop_agent import cli
from skyhop_agent.errors import AgentError

#: Never on the way of a verb that succeeds: argparse (`--help` and usage errors only), typing
#: (annotations only), dataclasses (it brings inspect and ast), secrets, traceback, shutil.
NEVER = {"argparse", "typing", "dataclasses", "inspect", "ast", "secrets", "traceback", "shutil", "base64", "shlex"}
#: Only for verbs that start processes or threads (submit, the driver, the daemon).
SPAWNING = {"subprocess", "threading", "queue", "selectors"}


def imported_by(agent: Agent, *argv: str, input: str | None = None) -> set[str]:
    """The modules a verb run imports, as `python -S -X importtime` reports them; the verb must succeed."""
    result = subprocess.run(
        [agent.python, "-S", "-X", "importtime", "-m", "skyhop_agent", "--base", str(agent.base), *argv],
        input=input, capture_output=True, text=True, env=agent.env(), timeout=60,
    )
    assert result.returncode == 0, (argv, result.stdout, result.stderr[-2000:])
    lines = [line for line in result.stderr.splitlines() if line.startswith("import time:")]
    assert lines, result.stderr[-2000:]
    return {line.rsplit("|", 1)[1].strip() for line in lines[1:]}  # the first line is the header


def test_frequent_verbs_import_only_what_they_need(cluster: Agent) -> None:
    job_id = cluster.submit(run="echo hi")
    cluster.wait(job_id)
    table_verbs = [["status", str(job_id)], ["queue"], ["wait", str(job_id)], ["logs", str(job_id)], ["cancel", str(job_id)]]
    for argv in table_verbs:
        modules = imported_by(cluster, *argv)
        assert "sqlite3" in modules and "skyhop_agent.cli" in modules, argv  # the measurement sees the verb's imports
        assert not modules & (NEVER | SPAWNING), (argv, sorted(modules & (NEVER | SPAWNING)))
    for argv in (["health"], ["autostop"], ["daemon-stop"]):
        modules = imported_by(cluster, *argv)
        assert not modules & (NEVER | SPAWNING | {"sqlite3"}), (argv, sorted(modules & (NEVER | SPAWNING | {"sqlite3"})))


def test_submit_and_the_job_driver_import_no_more_than_they_use(cluster: Agent) -> None:
    spec = json.dumps({"run": "true"})
    modules = imported_by(cluster, "submit", "--spec", "-", input=spec)
    assert "subprocess" in modules  # it starts the job's driver
    assert not modules & NEVER, sorted(modules & NEVER)
    job_id = cluster.submit(run="true")
    cluster.wait(job_id)
    # The driver of an ended job is not that job's: it stops right after its imports.
    modules = imported_by(cluster, "run-job", str(job_id))
    assert "skyhop_agent.driver" in modules and "skyhop_agent.nodeexec" in modules
    assert not modules & NEVER, sorted(modules & NEVER)


def test_the_agent_starts_its_own_processes_without_site(cluster: Agent) -> None:
    """The daemon and the drivers run with -S, on the interpreter that started them."""
    pid = cluster.ok("daemon-start")["pid"]
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert argv[:4] == [os.fsencode(cluster.python), b"-S", b"-m", b"skyhop_agent"], argv
    job_id = cluster.submit(run="python3 -c 'import sys; print(sys.flags.no_site)'")
    assert cluster.wait(job_id)["status"] == "SUCCEEDED"
    assert cluster.log(job_id).strip() == "0"  # the job's own Python is not the agent's: it keeps its site


def test_install_is_one_agent_process(make_cluster: MakeCluster) -> None:
    """`init --config - --compile --start-daemon` (AgentClient.install): config from stdin, bytecode for every module, the daemon up."""
    agent = make_cluster()
    package = agent.agent_root / "skyhop_agent"
    shutil.rmtree(package / "__pycache__", ignore_errors=True)
    config = (agent.base / "cluster.json").read_text()
    reply = agent.ok("init", "--config", "-", "--compile", "--start-daemon", input=config)
    assert set(reply) == {"ok", "pid"} and agent.ok("health")["daemon_pid"] == reply["pid"]
    compiled = {path.name.split(".")[0] for path in (package / "__pycache__").glob("*.pyc")}
    assert compiled == {path.stem for path in package.glob("*.py")}
    assert agent.ok("init", "--config", "-", input=config) == {"ok": True}  # the plain form, as before


# What the broker and the agent send (execution/agent.py, selfexec.py, channel.py): all on the quick path.
BROKER_SPELLINGS = [
    ["--base", "/n", "init", "--config", "-", "--compile", "--start-daemon"], ["--base", "/n", "init", "--config", "/n/c.json"], ["--base", "/n", "daemon-start"], ["--base", "/n", "daemon-stop"],
    ["--base", "/n", "health"], ["--base", "/n", "submit", "--spec", "-"], ["--base", "/n", "queue"], ["--base", "/n", "queue", "--active"],
    ["--base", "/n", "status", "3", "4"], ["--base", "/n", "cancel", "--all"], ["--base", "/n", "cancel", "3", "4"],
    ["--base", "/n", "logs", "3", "--follow", "--tail", "10", "--node", "1", "--record"], ["--base", "/n", "wait", "3"],
    ["--base", "/n", "autostop", "--idle-minutes", "2.5", "--down"], ["--base", "/n", "autostop", "--cancel"], ["--base", "/n", "autostop"],
    ["--base", "/n", "stop-jobs"], ["--base", "/n", "self-stop"], ["--base", "/n", "self-down"], ["--base", "/n", "daemon"],
    ["--base", "/n", "run-job", "7"], ["health"],
]
# Other spellings, good and bad: the quick parser leaves them to argparse or agrees with it.
ODD_SPELLINGS = [
    [], ["--base"], ["--base", "/n"], ["frobnicate"], ["--help"], ["status", "--help"], ["-h"], ["status"], ["status", "seven"],
    ["status", "-1"], ["status", "+5", " 6"], ["status", "1", "--", "2"], ["wait"], ["wait", "1", "2"], ["health", "extra"],
    ["submit"], ["submit", "--spec"], ["submit", "--spec=-"], ["submit", "--sp", "-"], ["submit", "--spec", "a", "--spec", "b"],
    ["cancel"], ["cancel", "--all", "1"], ["cancel", "1", "--all", "2"], ["cancel", "1", "--all"], ["logs", "1", "--tail", "-5"],
    ["logs", "--tail", "5", "1"], ["logs", "1", "--tail"], ["logs", "1", "--follow", "--follow"], ["logs", "x"],
    ["autostop", "--idle-minutes", "5", "--cancel"], ["autostop", "--idle-minutes", "nan"], ["autostop", "--idle-minutes", "soon"],
    ["autostop", "--down"], ["--base", "/a", "--base", "/b", "queue"], ["--base", "-x", "queue"], ["queue", "--base", "/n"],
    ["run-job"], ["run-job", "1", "2"], ["init", "--config", ""], ["--base=/n", "health"], ["daemon", "x"],
]


def _outcome(parse: Callable[[list[str]], object], argv: list[str]) -> object:
    """What `parse(argv)` gives: the parsed arguments (as reprs: nan is a value), a refusal, or an exit (`--help`)."""
    try:
        return _reprs(parse(argv))
    except AgentError as error:
        return f"refused: {error}"
    except SystemExit as exit:
        return f"exit {exit.code}"


def _reprs(args: object) -> dict[str, str]:
    return {name: repr(value) for name, value in vars(args).items()}


@pytest.mark.parametrize("argv", BROKER_SPELLINGS + ODD_SPELLINGS, ids=" ".join)
def test_the_quick_parser_agrees_with_argparse(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    expected = _outcome(lambda a: cli.Args(**vars(cli.parser().parse_args(a))), argv)
    quick = cli.quick_parse(argv)
    if argv in BROKER_SPELLINGS:
        assert quick is not None, "the broker's own calls must not need argparse"
    assert quick is None or _reprs(quick) == expected
    assert _outcome(cli.parse, argv) == expected
