"""The cluster-internal key: how a multi-node cluster's head reaches its workers.

The head's agent starts each rank on its worker over SSH, so the head needs a
key the workers accept. It is generated on the head (the private half never
travels), and its public half is appended to each worker's
`~/.ssh/authorized_keys` with a comment naming the cluster, which is how
`down` removes exactly that line again.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Callable, Sequence

from skyhop.errors import SkyhopError
from skyhop.parallel import each
from skyhop.providers.base import NodeInfo
from skyhop.providers.errors import CapacityError
from skyhop.providers.ssh.runner import SSHRunner, SSHTarget, batch_options, known_hosts_file

KEY_FILE = "cluster_key"
KNOWN_HOSTS_FILE = "cluster_known_hosts"

# A fresh key every launch: a leftover one would carry an older comment, which revoke would miss.
_CREATE = """command -v ssh >/dev/null && command -v ssh-keygen >/dev/null || { echo no-ssh; exit 0; }
rm -f "$1" "$1.pub" && ssh-keygen -q -t ed25519 -N '' -C "$2" -f "$1" || exit 1
cat "$1.pub"
"""
# The user's own keys are in this file: never glue ours onto their last line, never
# replace the file with a partial copy (grep exit 2: read error, disk full).
_AUTHORIZE = """umask 077; mkdir -p "$HOME/.ssh" || exit 1
f="$HOME/.ssh/authorized_keys"
touch "$f" || exit 1
grep -qxF -- "$1" "$f" && exit 0
if [ -s "$f" ] && [ "$(tail -c 1 "$f" | wc -l)" -eq 0 ]; then printf '\\n' >> "$f" || exit 1; fi
printf '%s\\n' "$1" >> "$f"
"""
_REVOKE = """f="$HOME/.ssh/authorized_keys"
test -f "$f" || exit 0
grep -vF -- " $1" "$f" > "$f.skyhop-tmp"
rc=$?
[ "$rc" -le 1 ] && cat "$f.skyhop-tmp" > "$f"
rm -f "$f.skyhop-tmp"
[ "$rc" -le 1 ]
"""


def new_comment(cluster_name: str) -> str:
    """Unique per cluster incarnation, so revoking one never touches another's line."""
    return f"skyhop-cluster:{cluster_name}:{secrets.token_hex(4)}"


def create_on_head(head: SSHRunner, head_base: str, comment: str) -> str:
    """The public key (created on first use); CapacityError when the head has no OpenSSH client."""
    done = head.run(["sh", "-c", _CREATE, "sh", f"{head_base}/{KEY_FILE}", comment], timeout=60)
    out = done.stdout.strip()
    if done.returncode == 0 and out == "no-ssh":
        raise CapacityError(f"{head.target.describe()} has no OpenSSH client (ssh, ssh-keygen), which a multi-node head needs to start its workers.")
    if done.returncode != 0 or not out.startswith("ssh-"):
        raise SkyhopError(f"Creating the cluster key on {head.target.describe()} failed: {done.stderr.strip()[-300:]}")
    return out


def authorize(worker: SSHRunner, public_key: str) -> None:
    done = worker.run(["sh", "-c", _AUTHORIZE, "sh", public_key], timeout=60)
    if done.returncode != 0:
        raise SkyhopError(f"Authorizing the cluster key on {worker.target.describe()} failed: {done.stderr.strip()[-300:]}")


def revoke(worker: SSHRunner, comment: str) -> None:
    worker.run(["sh", "-c", _REVOKE, "sh", comment], timeout=60)


def seed_known_hosts(head: SSHRunner, head_base: str, workers: list[SSHTarget], client_known_hosts: str) -> None:
    """Give the head the workers' host keys this machine already trusts (for the strict policy)."""
    names = {w.host if w.port == 22 else f"[{w.host}]:{w.port}" for w in workers}
    lines = [line for line in client_known_hosts.splitlines() if line.split(" ", 1)[0] in names]
    done = head.run(["sh", "-c", 'umask 077; cat > "$1"', "sh", f"{head_base}/{KNOWN_HOSTS_FILE}"], input="".join(f"{line}\n" for line in lines))
    if done.returncode != 0:
        raise SkyhopError(f"Writing the workers' host keys on {head.target.describe()} failed: {done.stderr.strip()[-300:]}")


def exec_prefix(head_base: str, worker: SSHTarget) -> list[str]:
    """The command line the head's agent puts before a worker's command (see skyhop_agent.nodeexec).

    The worker's pool address is used as seen from the head, with the pool's
    host-key policy and the batch options every ssh skyhop starts has.
    """
    options = batch_options(
        port=worker.port, policy=worker.host_key_policy,
        known_hosts=f"{head_base}/{KNOWN_HOSTS_FILE}", identity_file=f"{head_base}/{KEY_FILE}",
    )
    return ["ssh", "-T", *options, worker.destination]


def link_workers(
    nodes: Sequence[NodeInfo], comment: str, target_of: Callable[[NodeInfo], SSHTarget],
    seen_from_head: Callable[[NodeInfo], SSHTarget] | None = None,
) -> list[NodeInfo]:
    """Give the head a key the workers accept, and each worker the command line that reaches it.

    `target_of` is how this machine reaches a node; `seen_from_head` how the
    head does (a cloud VM's private address, where this machine may use a
    public one), by default the same.
    """
    from_head = seen_from_head or target_of
    head = nodes[0]
    head_runner = SSHRunner(target_of(head))
    public_key = create_on_head(head_runner, head.base, comment)
    workers = [from_head(node) for node in nodes[1:]]
    if head_runner.target.host_key_policy == "yes":  # strict: the head may only trust the host keys this machine already trusts
        seed_known_hosts(head_runner, head.base, workers, known_hosts_file().read_text() if known_hosts_file().exists() else "")
    each(nodes[1:], lambda node: authorize(SSHRunner(target_of(node)), public_key))
    return [head] + [replace(node, exec_prefix=tuple(exec_prefix(head.base, worker))) for node, worker in zip(nodes[1:], workers)]
