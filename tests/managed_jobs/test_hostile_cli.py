"""Every `skyhop jobs` command with hostile values, against one real server: a one-paragraph error, never a traceback.

Found on the walk: an empty or blank command was launched as a job that ran
nothing, `TASK.yaml extra` ran the words as a command (which failed on the
node), a directory named like a task file was "does not exist", a missing
--workdir was accepted and failed at the first launch, an id of `abc` was "not
a valid integer range", and a refused --name read `body.name`. No case
launches anything: the refusals come before, or the pool named is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from helpers import subprocess_env
from pty_terminal import CTRL_C, Terminal
from server.api_http import send
from server.conftest import shared_api_server  # noqa: F401  (one real server for the module)

HUGE = str(10**30)
METACHARS = "x;touch {tmp}/pwned&&`touch {tmp}/pwned`|$(id)>"


@dataclass(frozen=True)
class Outcome:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(shared_api_server, isolated_home, tmp_path, monkeypatch, capsys):  # noqa: F811
    """The CLI run in this process (a process per case would cost a Python start-up each), talking to the shared server."""
    from skyhop.cli.main import main

    env = {"SKYHOP_API_SERVER_URL": shared_api_server.url, "SKYHOP_API_TOKEN": shared_api_server.token}
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    def run(*args: str) -> Outcome:
        capsys.readouterr()
        with pytest.raises(SystemExit) as ended:
            main([a.replace("{tmp}", str(tmp_path)) for a in args])
        out = capsys.readouterr()
        return Outcome(ended.value.code if isinstance(ended.value.code, int) else 0, out.out, out.err)

    run.env = subprocess_env(isolated_home, **env)  # type: ignore[attr-defined]
    yield run
    assert not (tmp_path / "pwned").exists()
    assert send(shared_api_server, "GET", "/api/v1/managed-jobs?all_users=true").json == []  # nothing was submitted


def _files(tmp_path):
    (tmp_path / "dir.yaml").mkdir()
    (tmp_path / "empty.yaml").write_text("")
    (tmp_path / "scalars.yaml").write_text("- a\n- b\n")
    (tmp_path / "task.yaml").write_text("run: echo hi\n")
    (tmp_path / "bad-run.yaml").write_text("run: [echo, hi]\n")
    (tmp_path / "pipe.yaml").write_text("name: p\n---\nrun: echo a\n---\nrun: echo b\nnum_nodes: 100000\n")


#: (args, what stderr says, exit code)
CASES = [
    (("jobs", "launch", "-y", ""), "Give a task file or a command", 1),
    (("jobs", "launch", "-y", "   "), "Give a task file or a command", 1),
    (("jobs", "launch", "-y"), "Give a task file or a command", 1),
    (("jobs", "launch", "-y", "{tmp}/missing.yaml"), "does not exist", 1),
    (("jobs", "launch", "-y", "{tmp}/dir.yaml"), "is a directory, not a task file", 1),
    (("jobs", "launch", "-y", "{tmp}/empty.yaml"), "the task file is empty", 1),
    (("jobs", "launch", "-y", "{tmp}/scalars.yaml"), "Expected a mapping of task fields", 1),
    (("jobs", "launch", "-y", "{tmp}/bad-run.yaml"), "Invalid field 'run'", 1),
    (("jobs", "launch", "-y", "{tmp}/pipe.yaml"), "'task[1].num_nodes'", 1),
    (("jobs", "launch", "-y", "{tmp}/task.yaml", "extra"), "takes no further words", 1),
    (("jobs", "launch", "-y", "--workdir", "{tmp}/nowhere", "echo"), "is not a directory on this machine", 1),
    (("jobs", "launch", "-y", "-n", "n" * 300, "echo"), "-n/--name: ", 1),
    (("jobs", "launch", "-y", "-n", "a\nb", "--pool", "nowhere", "echo"), "No pool named 'nowhere'", 1),
    (("jobs", "launch", "-y", "-n", METACHARS, "--pool", "nowhere", "echo"), "No pool named 'nowhere'", 1),
    (("jobs", "launch", "-y", "-n", "训练-ü-🚀", "--pool", "nowhere", METACHARS), "No pool named 'nowhere'", 1),
    (("jobs", "launch", "-y", "--pool", METACHARS, "echo"), "Pool name", 1),
    (("jobs", "launch", "-y", "--pool", "p" * 300, "echo"), "-p/--pool: ", 1),
    (("jobs", "launch", "-y", "--num-jobs", "0", "echo"), "'--num-jobs': 0 is not in the range", 2),
    (("jobs", "launch", "-y", "--num-jobs", HUGE, "echo"), "is not in the range", 2),
    (("jobs", "launch", "-y", "--num-jobs", "abc", "echo"), "'abc' is not a valid integer", 2),
    (("jobs", "launch", "-y", "--cpus", HUGE, "echo"), "'--cpus': must be at most", 1),
    (("jobs", "launch", "-y", "--env", "A", "echo"), "A is not set in your environment", 1),
    (("jobs", "launch", "-y", "--env-file", "{tmp}", "echo"), "is a directory", 2),
    (("jobs", "launch", "-y", "--job-recovery", METACHARS, "echo"), "unknown recovery strategy", 1),
    (("jobs", "logs", "abc"), "'abc' is not a job id", 2),
    (("jobs", "logs", "0"), "0 is not a job id", 2),
    (("jobs", "logs", "--", "-1"), "-1 is not a job id", 2),
    (("jobs", "logs", HUGE), f"{HUGE} is not a job id", 2),
    (("jobs", "logs", "7"), "No managed job 7", 1),
    (("jobs", "logs", "--controller", "7"), "No managed job 7", 1),
    (("jobs", "logs"), "You have no managed jobs yet", 1),
    (("jobs", "cancel", "-y", "abc"), "'abc' is not a job id", 2),
    (("jobs", "cancel", "-y", HUGE), "is not a job id", 2),
    (("jobs", "cancel", "-y", "7"), "No managed job(s) 7", 1),
    (("jobs", "cancel", "-y", "-n", ""), "-n/--name: ", 1),
    (("jobs", "cancel", "-y", "-n", METACHARS), "No managed job named", 1),
    (("jobs", "cancel", "-y", "-n", "n" * 300), "-n/--name: ", 1),
    (("jobs", "cancel", "-y", "-n", "x", "3"), "exactly one of them", 1),
    (("jobs", "cancel", "-y"), "exactly one of them", 1),
    (("jobs", "queue", "--output", "yaml"), "'yaml' is not one of", 2),
]


@pytest.mark.parametrize(("args", "says", "code"), CASES, ids=[str(i) for i in range(len(CASES))])
def test_hostile_values_get_one_paragraph(cli, tmp_path, args, says, code):
    _files(tmp_path)
    result = cli(*args)
    assert result.returncode == code, (result.returncode, result.stderr)
    assert says.replace("{tmp}", str(tmp_path)) in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "body." not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("Error: ")


def test_queue_of_nobody_is_plain(cli):
    assert cli("jobs", "queue").stdout.strip() == "No managed jobs."
    assert cli("jobs", "queue", "-a", "-u", "-s", "--output", "json").stdout.strip() == "[]"


PROMPTS = [
    (("jobs", "launch", "--pool", "nowhere", "-n", "asked", "echo"), "Launch?", "No pool named 'nowhere'"),
    (("jobs", "cancel", "7"), "Cancel managed job(s) 7?", "No managed job(s) 7"),
]
#: (keys, exit code): no, the default (yes: then the server's refusal), EOF, Ctrl-C
ANSWERS = [("n\n", 1), ("\n", 1), ("\x04", 1), (CTRL_C, 1)]  # click ends a prompt cut short with "Aborted!"


@pytest.mark.parametrize(("args", "prompt", "refusal"), PROMPTS, ids=["launch", "cancel"])
@pytest.mark.parametrize(("keys", "code"), ANSWERS, ids=["no", "default-yes", "eof", "ctrl-c"])
def test_the_prompt_takes_every_answer_without_a_traceback(cli, tmp_path, args, prompt, refusal, keys, code):
    terminal = Terminal(cli.env, tmp_path, *args)
    terminal.expect(prompt)
    terminal.type(keys)
    assert terminal.finish() == code, terminal.screen  # finish() also asserts no traceback
    assert (refusal in terminal.screen) == (keys == "\n"), terminal.screen
