"""Pieces that are easiest to pin down on their own."""

from __future__ import annotations

import io
import os
import subprocess
import time
from pathlib import Path

import pytest

from skyhop_agent import config, logs, nodeexec
from skyhop_agent.errors import AgentError


def _node(tmp_path: Path, **extra: object) -> config.Node:
    return config.Node("127.0.0.1", str(tmp_path), extra.get("workdir"), extra.get("exec_prefix"), extra.get("home"))  # type: ignore[arg-type]


def _script(tmp_path: Path, text: str) -> str:
    path = tmp_path / f"script-{abs(hash(text))}.sh"
    nodeexec.write_script(str(path), text)
    return str(path)


def test_local_node_command_runs_in_workdir_else_base(tmp_path: Path) -> None:
    script = _script(tmp_path, "echo hi")
    command = nodeexec.node_command(_node(tmp_path, workdir=str(tmp_path / "wd")), script, {"X": "1"})
    assert command.argv == ["bash", "-i", script]
    assert command.cwd == str(tmp_path) and not command.watch_stdin and command.mute_stderr
    assert command.env["X"] == "1" and "PATH" in command.env and command.env[nodeexec.NODE_MARKER] == str(tmp_path)
    (tmp_path / "wd").mkdir()
    assert nodeexec.node_command(_node(tmp_path, workdir=str(tmp_path / "wd")), _script(tmp_path, "true"), {}).cwd == str(tmp_path / "wd")


def _remote(tmp_path: Path, script: str, env: dict[str, str]) -> nodeexec.NodeCommand:
    """A prefixed node whose prefix runs the command line with `sh -c`, as ssh would."""
    return nodeexec.node_command(_node(tmp_path, workdir=str(tmp_path / "wd"), exec_prefix=["env", "FROM_PREFIX=yes", "sh", "-c"]), _script(tmp_path, script), env)


def test_prefixed_node_command_carries_env_and_cwd_in_one_command_line(tmp_path: Path) -> None:
    (tmp_path / "wd").mkdir()
    command = _remote(tmp_path, 'echo "$X|$FROM_PREFIX|$(pwd)|$SKYHOP_NODE_BASE"', {"X": "it's quoted", "SECRET": "multi\nline hunter2"})
    assert "hunter2" not in " ".join(command.argv)  # secrets travel on stdin, never in a visible argv
    assert command.argv[:4] == ["env", "FROM_PREFIX=yes", "sh", "-c"] and len(command.argv) == 5 and command.cwd is None
    assert command.watch_stdin
    code, out = _held_open(command)
    assert code == 0 and out == f"it's quoted|yes|{tmp_path / 'wd'}|{tmp_path}\n"
    os.rmdir(tmp_path / "wd")  # no workdir yet: the base
    assert _held_open(command)[1].endswith(f"|{tmp_path}|{tmp_path}\n")
    assert _held_open(_remote(tmp_path, "exit 7", {}))[0] == 7
    tricky = "multi\nline 'q' $HOME `x` #skyhop-env-end-0"
    assert _held_open(_remote(tmp_path, 'printf %s "$SECRET"', {"SECRET": tricky})) == (0, tricky)


def test_prefixed_node_runs_nothing_without_its_whole_environment(tmp_path: Path) -> None:
    command = _remote(tmp_path, f"touch {tmp_path / 'ran'}", {"X": "1"})
    cut = command.preamble[: command.preamble.index(b"#skyhop-env-end")]  # the driver died mid-write
    done = subprocess.run(command.argv, env=command.env, input=cut)
    assert done.returncode == 1 and not (tmp_path / "ran").exists()


def test_prefixed_node_job_can_be_interrupted_like_a_local_one(tmp_path: Path) -> None:
    """Background jobs of a non-interactive bash start with SIGINT/SIGQUIT ignored; ranks must not."""
    show = "grep -E '^SigIgn' /proc/$$/status"
    local = subprocess.run(nodeexec.node_command(_node(tmp_path), _script(tmp_path, show), {}).argv, capture_output=True, text=True).stdout
    code, remote = _held_open(_remote(tmp_path, show, {}))
    assert code == 0 and remote == local


# What Debian/Ubuntu's default ~/.bashrc begins with: nothing below it runs in a non-interactive shell.
_BASHRC = 'case $- in *i*) ;; *) return;; esac\nexport FROM_RC=yes\nalias greet="echo hello"\n'
_SHELL_FACTS = 'echo "$FROM_RC|$HOME|wow!"\ngreet\nsleep 0.01 & wait\necho oops >&2\n'


def test_scripts_run_in_an_interactive_bash_that_sources_bashrc(tmp_path: Path) -> None:
    """As SkyPilot: a `conda activate` or `export` that setup appends to ~/.bashrc reaches run."""
    home = tmp_path / "nodehome"
    home.mkdir()
    (home / ".bashrc").write_text(_BASHRC)
    local = nodeexec.node_command(_node(tmp_path, home=str(home)), _script(tmp_path, _SHELL_FACTS), {})
    stderr = subprocess.DEVNULL if local.mute_stderr else subprocess.STDOUT  # as the driver starts it
    done = subprocess.run(local.argv, cwd=local.cwd, env=local.env, stdout=subprocess.PIPE, stderr=stderr, text=True, stdin=subprocess.DEVNULL)
    # The script's own stderr joins its output: not the "no job control" complaints of a bash without a terminal.
    assert (done.returncode, done.stdout) == (0, f"yes|{home}|wow!\nhello\noops\n")
    assert not (home / ".bash_history").exists()
    remote = _remote(tmp_path, _SHELL_FACTS, {"HOME": str(home)})
    assert _held_open(remote) == (0, f"yes|{home}|wow!\nhello\noops\n")


def test_interactive_job_shell_still_dies_on_sigterm(tmp_path: Path) -> None:
    """An interactive bash ignores SIGTERM; a job's must not (cancel and gang stops send it)."""
    command = nodeexec.node_command(_node(tmp_path), _script(tmp_path, "sleep 30 & wait"), {})
    proc = subprocess.Popen(command.argv, cwd=command.cwd, env=command.env, stdin=subprocess.DEVNULL, start_new_session=True)
    time.sleep(1)
    proc.terminate()
    try:
        assert proc.wait(timeout=10) == 143
    finally:
        try:
            os.killpg(proc.pid, 9)
        except ProcessLookupError:
            pass


def _held_open(command: nodeexec.NodeCommand) -> tuple[int, str]:
    """Run it the way the driver does: stdin open (unwritten) until the process ends."""
    proc = subprocess.Popen(command.argv, env=command.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdin is not None
    proc.stdin.write(command.preamble.decode())
    proc.stdin.flush()
    out = proc.stdout.read()
    code = proc.wait(timeout=30)
    proc.stdin.close()
    return code, out


def test_prefixed_node_process_group_ends_when_its_stdin_closes(tmp_path: Path) -> None:
    """The remote-kill path: the driver's end of stdin going away ends the job there, background children too."""
    pid_file = tmp_path / "pids"
    script = f"sleep 300 & echo $! > {pid_file}; sleep 301"
    command = _remote(tmp_path, script, {})
    proc = subprocess.Popen(command.argv, env=command.env, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(command.preamble)
    proc.stdin.flush()
    deadline = time.monotonic() + 10
    while not (pid_file.exists() and pid_file.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.02)
    background = int(pid_file.read_text())
    assert proc.poll() is None
    proc.stdin.close()
    assert proc.wait(timeout=10) == 143  # the script's group got SIGTERM
    deadline = time.monotonic() + 10
    while _running(background) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _running(background)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


@pytest.mark.parametrize(
    "content, lines, expected",
    [
        (b"a\nb\nc\n", 2, b"b\nc\n"),
        (b"a\nb\nc", 2, b"b\nc"),
        (b"a\nb\n", 5, b"a\nb\n"),
        (b"", 3, b""),
        (b"x" * 70000 + b"\nlast\n", 1, b"last\n"),
    ],
)
def test_tail(tmp_path: Path, content: bytes, lines: int, expected: bytes) -> None:
    path = tmp_path / "log"
    path.write_bytes(content)
    out = io.BytesIO()
    logs.stream(str(path), out, follow=False, tail=lines, finished=lambda: True)
    assert out.getvalue() == expected


def test_cluster_config_defaults_gpu_ids_from_counts() -> None:
    raw = {
        "cluster_name": "c",
        "provider": "local",
        "user": "u",
        "nodes": [{"rank": 0, "ip": "127.0.0.1", "base": "/b"}],
        "resources": {"cpus": 4, "gpus": {"L4": 2}},
    }
    checked = config.validate(raw)
    assert checked["resources"]["gpu_ids"] == {"L4": [0, 1]}
    assert checked["remove_on_down"] == [] and checked["autostop_hooks"] is None
    with pytest.raises(AgentError, match="gpu_ids.L4' lists 1"):
        config.validate(dict(raw, resources={"cpus": 4, "gpus": {"L4": 2}, "gpu_ids": {"L4": [7]}}))
    with pytest.raises(AgentError, match="autostop_hooks"):
        config.validate(dict(raw, autostop_hooks={"pause": ["x"]}))


def test_end_marked_ends_detached_marked_processes_only(tmp_path: Path) -> None:
    from skyhop_agent import marked

    value = str(tmp_path)
    env = dict(os.environ, SKYHOP_TEST_MARK=value)
    # A marked process that detaches into its own session, and an unmarked one.
    detached = subprocess.Popen(["setsid", "sleep", "300"], env=env)
    other = subprocess.Popen(["sleep", "300"])
    try:
        deadline = time.monotonic() + 10
        while detached.pid not in marked.marked_pids("SKYHOP_TEST_MARK", value) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marked.end_marked("SKYHOP_TEST_MARK", value) == [detached.pid]
        assert detached.wait(timeout=10) == -15 and other.poll() is None
        assert marked.marked_pids("SKYHOP_TEST_MARK", value) == []
    finally:
        other.kill()
        detached.kill()
        other.wait()


def test_a_follower_asks_the_job_table_again_only_when_it_changed(tmp_path: Path) -> None:
    """Many followers poll every 20 ms for hours: the database read happens only after a write."""
    table = tmp_path / "jobs.db"
    table.write_text("v1")
    asked: list[int] = []
    finished = logs.asked_on_change(lambda: bool(asked.append(1)) or len(asked) >= 2, [str(table), str(tmp_path / "jobs.db-wal")], backstop_s=3600)
    assert [finished() for _ in range(5)] == [False] * 5 and len(asked) == 1
    (tmp_path / "jobs.db-wal").write_text("a commit")  # the job ended: a write, seen at the next poll
    assert finished() is True and len(asked) == 2
    every_time = logs.asked_on_change(lambda: bool(asked.append(1)), [str(table)], backstop_s=0)
    every_time(), every_time()
    assert len(asked) == 4  # the backstop alone (0 s here) asks again


def test_a_driver_is_told_apart_from_another_jobs_driver_by_its_job_id(tmp_path):
    """A pid freed by one job's driver and taken by the next job's driver passed the verb and base checks
    alone: the orphan check then took a dead driver for alive, and a cancel could end the wrong job."""
    import subprocess
    import sys

    from skyhop_agent import DRIVER_VERB, proctree

    base = str(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "skyhop_agent", "--base", base, DRIVER_VERB, "7"])
    try:
        # No wait for the exec here: is_agent_process waits out the empty command line itself.
        assert proctree.is_agent_process(holder.pid, base, DRIVER_VERB, "7")
        assert not proctree.is_agent_process(holder.pid, base, DRIVER_VERB, "8")
        assert not proctree.is_agent_process(holder.pid, base + "-other", DRIVER_VERB, "7")
        assert proctree.is_agent_process(holder.pid, base, DRIVER_VERB)  # the daemon's check names no job
    finally:
        holder.kill()
        holder.wait()
