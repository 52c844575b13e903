"""How a script is started on one node: the single place that knows about remoteness.

A node without an `exec_prefix` is this machine: the script file (written by
`write_script`) runs in an interactive bash in the node's directory, with `HOME` set to
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

import json
import os

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
# session (its process group is what gets killed). Its last step is the
# interactive bash of PRELUDE, with stderr muted until the prelude gives it back.
# `python3 -S`: it needs the standard library alone, so the node's site-packages
# and .pth files (the larger part of a bare start) are skipped.
# With a second argument `data` (a data_stdin command) the script's stdin is the
# rest of the wrapper's stdin (fd 3) instead of /dev/null, and its real stderr waits
# on fd 4 for DATA_PRELUDE to take back.
_START = (
    "import base64, json, os, signal, sys\n"
    "os.environ.update(json.loads(base64.b64decode(sys.stdin.buffer.read())))\n"
    "data = sys.argv[2:] == ['data']\n"
    "os.dup2(3 if data else os.open(os.devnull, os.O_RDONLY), 0)\n"
    "if data:\n"
    "    os.close(3)\n"
    "    os.dup2(2, 4)\n"
    "for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGPIPE, signal.SIGXFSZ):\n"
    "    signal.signal(sig, signal.SIG_DFL)\n"
    "os.setsid()\n"
    "os.dup2(os.open(os.devnull, os.O_WRONLY), 2)\n"
    "os.execvp('bash', ['bash', '-i', sys.argv[1]])\n"
)
_REMOTE_WRAPPER = """exec 3<&0
printf '%s' "$env_block" | python3 -S -c "$START" "$script_file" 3<&- &
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
# A data_stdin command: the script reads the rest of stdin itself (fd 3, kept open for
# it), so no watcher shares it. The script is expected to end at EOF of its stdin (the
# function worker does); the wrapper then ends whatever it left in its process group.
_REMOTE_DATA_WRAPPER = """exec 3<&0
printf '%s' "$env_block" | python3 -S -c "$START" "$script_file" data &
job=$!
unset env_block
exec 3<&-
wait "$job"
code=$?
kill -TERM -- "-$job" 2>/dev/null
exit "$code"
"""
# A local data_stdin command: bash -i starts with stderr muted (its "no job control"
# complaint) and the real stderr on fd 4, as on a remote node.
_LOCAL_DATA_START = 'exec 4>&2 2>/dev/null; exec bash -i "$1"'


# The user's script runs as SkyPilot runs it: `bash -i FILE`, an interactive bash
# reading it from a file, so ~/.bashrc is sourced (a `conda activate` or `export` that
# setup appends there reaches run). Without a terminal, an interactive bash
# first complains that it has no job control: bash starts with stderr on
# /dev/null, and this line, the file's first, sends stderr where stdout goes
# (the job's log, as for any command). History expansion would
# make a `!` in a string an error, job control would put background commands in
# process groups of their own, and an interactive bash ignores SIGTERM (which
# cancel relies on) and survives SIGINT: all of that is undone before the user's
# lines. One line, so bash's line numbers in errors are off by one only.
PRELUDE = 'exec 2>&1; set +H +m +o history; trap "exit 143" TERM; trap "exit 130" INT\n'
#: The same for a data_stdin script: stdout is data (frames), so stderr goes back to where
#: the process's own stderr went (kept on fd 4), not into stdout.
DATA_PRELUDE = 'exec 2>&4 4>&-; set +H +m +o history; trap "exit 143" TERM; trap "exit 130" INT\n'


def write_script(path: str, script: str, *, data_stdin: bool = False) -> None:
    """Write the file `node_command` runs: PRELUDE (DATA_PRELUDE for a `data_stdin` command), then the
    script; private (0600) to the node's owner.

    A file, not an argv: scripts over the kernel's 128 KiB per-argument cap
    run, and nothing of them shows in `ps`.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(DATA_PRELUDE if data_stdin else PRELUDE)
        f.write(script)


class NodeCommand:
    """What `subprocess.Popen` needs.

    `watch_stdin` asks for a stdin pipe that gets `preamble` written to it and
    then stays open (unwritten) while the process runs. `mute_stderr`: the
    process's stderr goes to /dev/null (the script sends its own to stdout);
    otherwise it goes where stdout goes (an ssh client's own errors).
    A plain class, not a dataclass: every job's driver makes these, and
    `dataclasses` (with the `inspect` and `ast` it imports) cost it ~20 ms CPU.
    """

    __slots__ = ("argv", "cwd", "env", "watch_stdin", "mute_stderr", "preamble")

    def __init__(self, argv: list[str], cwd: str | None, env: dict[str, str], watch_stdin: bool, mute_stderr: bool, preamble: bytes = b"") -> None:
        self.argv = argv
        self.cwd = cwd
        self.env = env
        self.watch_stdin = watch_stdin
        self.mute_stderr = mute_stderr
        self.preamble = preamble


def node_command(node: Node, script_file: str, env: dict[str, str], *, data_stdin: bool = False) -> NodeCommand:
    """How to run `script_file` (on this machine, made by `write_script`) on `node` with the job variables `env`.

    Jobs start in the node's workdir once the broker has synced one, else in
    its base directory. With `data_stdin` (a script written with the same flag) the
    caller's pipe is the script's own after the preamble: what follows it on stdin is
    the script's stdin, its stdout is the script's stdout and nothing else (the shell's
    own complaints go to stderr), and the script ends when stdin does. Such a
    command always wants a stdin pipe (`watch_stdin`) and a stderr of its own
    (`mute_stderr` False: the caller keeps it apart from stdout).
    """
    env = {**env, NODE_MARKER: node.base}
    if node.exec_prefix is None:
        cwd = node.workdir if node.workdir and os.path.isdir(node.workdir) else node.base
        home = {"HOME": node.home} if node.home else {}
        if data_stdin:
            argv = ["bash", "-c", _LOCAL_DATA_START, "skyhop-node", script_file]
            return NodeCommand(argv, cwd, {**os.environ, **home, **env}, watch_stdin=True, mute_stderr=False)
        return NodeCommand(["bash", "-i", script_file], cwd, {**os.environ, **home, **env}, watch_stdin=False, mute_stderr=True)
    import base64  # only a remote node's command needs these
    import shlex

    with open(script_file, "rb") as f:
        script = f.read()
    block = base64.b64encode(json.dumps(env).encode()).decode()
    end = f"#skyhop-env-end-{os.urandom(8).hex()}"  # what secrets.token_hex(8) is, without importing secrets
    goto = f"cd {shlex.quote(node.workdir)} 2>/dev/null || " if node.workdir else ""
    tail = _REMOTE_DATA_WRAPPER if data_stdin else _REMOTE_WRAPPER
    wrapper = f"{_REMOTE_WRAPPER_HEAD}{goto}cd {shlex.quote(node.base)} || exit 1\nSTART={shlex.quote(_START)}\n{tail}"
    command_line = shlex.join(["bash", "-c", wrapper, "skyhop-node", str(len(script)), end])
    preamble = f"{block}\n{end}\n".encode() + script
    return NodeCommand(list(node.exec_prefix) + [command_line], None, dict(os.environ), watch_stdin=True, mute_stderr=False, preamble=preamble)
