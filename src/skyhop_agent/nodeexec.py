"""How a script is started on one node: the single place that knows about remoteness.

A node without an `exec_prefix` is this machine: the script file runs in an
interactive bash (see INTERACTIVE) in the node's directory, with `HOME` set to
the node's home when the node has one of its own. A node with one (an ssh command line
to a worker) gets `PREFIX + [COMMAND_LINE]`: the prefix must run its last
argument as a shell command line, as ssh does, and carries neither environment
nor working directory. The directory travels in the command line; the
environment (which holds the task's secrets) and then the script travel on
stdin, never in an argv that `ps` on either machine would show (and that the
kernel caps at 128 KiB per argument: a long `run:` would not start). The
environment travels as data, one base64
line of JSON that python turns into the script's environment: no shell text is
ever built from a variable's name or value, so a name like `X;touch /tmp/p`
could at worst be a strange variable, never a command.

On a remote node nothing kills the script when its ssh client dies, so the
command line starts the script in its own session and watches its stdin: the
driver holds that stdin open for the life of the node process, and EOF (the
driver or its ssh client ended, the job was cancelled, the other ranks failed)
ends the script's whole process group there.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shlex
from dataclasses import dataclass

from skyhop_agent.config import Node

#: Every process skyhop starts on a node carries this, so a provider can find them all.
NODE_MARKER = "SKYHOP_NODE_BASE"

# $1 is the script's size in bytes, $2 the line that ends the environment block on
# stdin; the script follows that line. Without the whole of both (stdin closed
# early: the driver died) the script must not run. The script goes to a private
# temporary file, removed when it ends. umask 077: what skyhop and the job create on the node
# is the node owner's alone (the job table and logs there hold secret values).
_REMOTE_WRAPPER_HEAD = """umask 077
IFS= read -r env_block || exit 1
IFS= read -r line || exit 1
[ "$line" = "$2" ] || exit 1
unset line
script_file=$(mktemp) || exit 1
trap 'rm -f "$script_file"' EXIT
head -c "$1" > "$script_file"
[ "$(wc -c < "$script_file")" -eq "$1" ] || exit 1
"""
# Then (after the cd) fd 3 keeps the rest of stdin, the watch line, for the watcher.
# The script is started through python3 (every node has it), which also turns the
# environment block (on its stdin, from the builtin printf: in no argv) into the
# script's environment: a background job of a non-interactive bash starts with
# SIGINT/SIGQUIT ignored, which bash cannot undo (python itself ignores
# SIGPIPE/SIGXFSZ: those go back to default too), and the job must get its own
# session (its process group is what gets killed).
_START = (
    "import base64, json, os, signal, sys\n"
    "os.environ.update(json.loads(base64.b64decode(sys.stdin.buffer.read())))\n"
    "os.dup2(os.open(os.devnull, os.O_RDONLY), 0)\n"
    "for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGPIPE, signal.SIGXFSZ):\n"
    "    signal.signal(sig, signal.SIG_DFL)\n"
    "os.setsid()\n"
    "os.execvp('bash', ['bash', '-c', sys.argv[2], 'skyhop-job', sys.argv[1]])\n"
)
_REMOTE_WRAPPER = """exec 3<&0
printf '%s' "$env_block" | python3 -c "$START" "$script_file" "$INTERACTIVE" 3<&- &
job=$!
unset env_block
{ cat <&3 >/dev/null; kill -TERM -- "-$job"; sleep 2; kill -KILL -- "-$job"; } </dev/null >/dev/null 2>&1 &
watch=$!
exec 3<&-
wait "$job"
code=$?
kill -TERM -- "-$job" 2>/dev/null
kill "$watch" 2>/dev/null
exit "$code"
"""


# The user's script (the file $1) runs as SkyPilot runs it: in an interactive bash
# reading it from a file (the prelude below, then the script), so ~/.bashrc is sourced (a `conda activate` or `export` that
# setup appends there reaches run). Without a terminal, an interactive bash
# first complains that it has no job control: that goes to /dev/null, and the
# script's first line gives it back its stderr (fd 3). History expansion would
# make a `!` in a string an error, job control would put background commands in
# process groups of their own, and an interactive bash ignores SIGTERM (which
# cancel relies on) and survives SIGINT: all of that is undone before the user's lines.
INTERACTIVE = """prelude='exec 2>&3 3>&- 5<&-
set +H +m +o history
trap "exit 143" TERM
trap "exit 130" INT'
exec bash -i /dev/fd/5 3>&2 2>/dev/null 5< <(printf '%s\n' "$prelude"; cat -- "$1")
"""


@dataclass(frozen=True)
class NodeCommand:
    """What `subprocess.Popen` needs.

    `watch_stdin` asks for a stdin pipe that gets `preamble` written to it and
    then stays open (unwritten) while the process runs.
    """

    argv: list[str]
    cwd: str | None
    env: dict[str, str]
    watch_stdin: bool
    preamble: bytes = b""


def node_command(node: Node, script_file: str, env: dict[str, str]) -> NodeCommand:
    """How to run the script in `script_file` (on this machine) on `node` with the job variables `env`.

    Jobs start in the node's workdir once the broker has synced one, else in
    its base directory.
    """
    env = {**env, NODE_MARKER: node.base}
    if node.exec_prefix is None:
        cwd = node.workdir if node.workdir and os.path.isdir(node.workdir) else node.base
        home = {"HOME": node.home} if node.home else {}
        return NodeCommand(["bash", "-c", INTERACTIVE, "skyhop-job", script_file], cwd, {**os.environ, **home, **env}, watch_stdin=False)
    with open(script_file, "rb") as f:
        script = f.read()
    block = base64.b64encode(json.dumps(env).encode()).decode()
    end = f"#skyhop-env-end-{secrets.token_hex(8)}"
    goto = f"cd {shlex.quote(node.workdir)} 2>/dev/null || " if node.workdir else ""
    wrapper = f"{_REMOTE_WRAPPER_HEAD}{goto}cd {shlex.quote(node.base)} || exit 1\nSTART={shlex.quote(_START)}\nINTERACTIVE={shlex.quote(INTERACTIVE)}\n{_REMOTE_WRAPPER}"
    command_line = shlex.join(["bash", "-c", wrapper, "skyhop-node", str(len(script)), end])
    preamble = f"{block}\n{end}\n".encode() + script
    return NodeCommand(list(node.exec_prefix) + [command_line], None, dict(os.environ), watch_stdin=True, preamble=preamble)
