"""What skyhop does on a pool host, each as one SSH round trip.

Every process skyhop starts for a cluster on a host (the head's agent, its
job drivers, the job processes on every node) carries
`SKYHOP_NODE_BASE=<the cluster's directory on that host>` in its environment,
and children inherit it even when they detach; ending a cluster on a host is
signalling every process that carries it. Python 3 is on every host (the probe
checks it), so the search is the agent's own `marked.py`, sent over stdin, rather
than `pkill` patterns (which miss detached children and renamed processes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from skyhop.errors import SkyhopError
from skyhop.providers import base
from skyhop.providers.errors import CapacityError
from skyhop.providers.ssh.runner import SSHRunner
from skyhop_agent import marked
from skyhop_agent.nodeexec import NODE_MARKER

STOPPED_MARKER = "stopped"  # the same file the agent's self-stop writes

# $1: the host's base_dir from the pool ('' for the default), $2: the cluster name.
# The cluster's directory is owner-only (other users of the host must not read
# its job table or logs); directories mkdir creates above it are too.
_PROBE = """python3 -c 'import sys; sys.exit(sys.version_info < (3, 8))' 2>/dev/null || { echo no-python; exit 0; }
base="${1:-$HOME/.skyhop-node}/$2"
umask 077
mkdir -p "$base" && chmod 700 "$base" || exit 1
printf '%s\\n%s\\n' "$HOME" "$base"
nproc 2>/dev/null || echo 0
awk '/^MemTotal:/ {print $2}' /proc/meminfo 2>/dev/null || echo 0
"""

STATE_TIMEOUT_S = 10  # a status refresh waits at most this long for a host that went quiet
_STATE = 'test -d "$1" || exit 3; test -e "$1/$2" && exit 4; exit 0'


@dataclass(frozen=True)
class HostFacts:
    home: str
    base: str  # the cluster's directory on the host
    cpus: float
    memory_gib: float


def probe(runner: SSHRunner, label: str, base_dir: str | None, cluster_name: str) -> HostFacts:
    """What a usable host is, creating the cluster's directory; CapacityError saying why not.

    `label` names where the host comes from in messages ("pool 'gpus'", "aws").
    """
    try:
        done = runner.run(["sh", "-c", _PROBE, "sh", base_dir or "", cluster_name], timeout=60)
    except SkyhopError as error:
        raise CapacityError(f"{label}: {error}") from None
    where = runner.target.describe()
    lines = done.stdout.split("\n")
    if done.returncode == 0 and lines[0] == "no-python":
        raise CapacityError(f"{label}: {where} has no Python 3.8+ (`python3`), which skyhop's node agent needs.")
    if done.returncode != 0 or len(lines) < 4:
        raise CapacityError(f"{label}: preparing {where} failed: {(done.stderr or done.stdout).strip()[-300:]}")
    return HostFacts(lines[0], lines[1], float(lines[2] or 0), round(float(lines[3] or 0) / 2**20, 1))


def state(runner: SSHRunner, node_base: str) -> str:
    """RUNNING, STOPPED or TERMINATED for one host; raises SkyhopError when it cannot be reached."""
    done = runner.run(["sh", "-c", _STATE, "sh", node_base, STOPPED_MARKER], timeout=STATE_TIMEOUT_S)
    result = {0: base.RUNNING, 3: base.TERMINATED, 4: base.STOPPED}.get(done.returncode)
    if result is None:
        raise SkyhopError(f"checking {runner.target.describe()} failed: {done.stderr.strip()[-200:]}")
    return result


def end_processes(runner: SSHRunner, node_base: str) -> None:
    """The agent's own marker search (skyhop_agent/marked.py), sent as a script: workers have no agent."""
    runner.run(["python3", "-", NODE_MARKER, node_base], input=Path(marked.__file__).read_text(encoding="utf-8"), timeout=60)


def mark_stopped(runner: SSHRunner, node_base: str) -> None:
    runner.run(["sh", "-c", 'date +%s > "$1/$2"', "sh", node_base, STOPPED_MARKER])


def clear_stopped(runner: SSHRunner, node_base: str) -> None:
    runner.run(["rm", "-f", f"{node_base}/{STOPPED_MARKER}"])


# $1: the cluster's directory. skyhop's default parent goes too once empty; a base_dir the user chose stays.
_WIPE = """rm -rf -- "$1" || exit 1
parent=$(dirname -- "$1")
[ "$(basename -- "$parent")" = .skyhop-node ] && rmdir -- "$parent" 2>/dev/null
exit 0
"""


def wipe(runner: SSHRunner, node_base: str) -> None:
    runner.run(["sh", "-c", _WIPE, "sh", node_base], timeout=120)


def wipe_unprobed(runner: SSHRunner, base_dir: str | None, cluster_name: str) -> None:
    """Remove a cluster's directory on a host whose probe may not have answered (a failed launch)."""
    script = 'set -- "${1:-$HOME/.skyhop-node}/$2"\n' + _WIPE
    runner.run(["sh", "-c", script, "sh", base_dir or "", cluster_name], timeout=120)
