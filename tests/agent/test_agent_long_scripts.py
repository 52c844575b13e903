"""Scripts never travel in an argv: a `run:` over the kernel's 128 KiB per-argument cap runs.

Before, `bash -c SCRIPT` failed with "Argument list too long" for such a
script (on every provider), and on remote nodes the script sat in the ssh
command line for `ps` to show.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from skyhop_agent import config, nodeexec

BIG = 300 * 1024  # well over MAX_ARG_STRLEN (128 KiB)


def _big_script() -> str:
    filler = "".join(f": filler line {i} {'x' * 80}\n" for i in range(BIG // 100))
    return filler + 'echo "ran $X"\n'


def test_a_long_script_runs_on_a_local_node(tmp_path: Path) -> None:
    script = tmp_path / "run.sh"
    nodeexec.write_script(str(script), _big_script())
    command = nodeexec.node_command(config.Node("127.0.0.1", str(tmp_path), None, None), str(script), {"X": "locally"})
    assert all(len(arg) < 4096 for arg in command.argv)
    done = subprocess.run(command.argv, cwd=command.cwd, env=command.env, capture_output=True, timeout=60)
    assert done.returncode == 0 and done.stdout == b"ran locally\n", done.stderr[-500:]


def test_a_long_script_runs_on_a_remote_node_and_is_not_in_its_argv(tmp_path: Path) -> None:
    script = tmp_path / "run.sh"
    nodeexec.write_script(str(script), _big_script() + "sleep 0.5\n")  # still running when stdin closes: the wrapper has the whole script
    node = config.Node("127.0.0.1", str(tmp_path), None, ["sh", "-c"])  # a prefix that runs its last argument, as ssh does
    command = nodeexec.node_command(node, str(script), {"X": "remotely"})
    assert all(len(arg) < 8192 for arg in command.argv) and "filler line" not in " ".join(command.argv)
    proc = subprocess.Popen(command.argv, env=command.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(command.preamble)
    proc.stdin.flush()
    out = proc.stdout.read()
    assert proc.wait(timeout=60) == 0 and out == b"ran remotely\n"
    proc.stdin.close()


def test_a_remote_node_runs_nothing_of_a_script_cut_short(tmp_path: Path) -> None:
    script = tmp_path / "run.sh"
    nodeexec.write_script(str(script), f"touch {tmp_path / 'ran'}\n" + _big_script())
    node = config.Node("127.0.0.1", str(tmp_path), None, ["sh", "-c"])
    command = nodeexec.node_command(node, str(script), {})
    done = subprocess.run(command.argv, env=command.env, input=command.preamble[:-1000], capture_output=True, timeout=60)
    assert done.returncode == 1 and not (tmp_path / "ran").exists()
