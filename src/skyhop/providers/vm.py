"""From cloud machines to cluster nodes: the part every VM cloud shares.

A cloud provider creates machines through its API and learns their
addresses; from there on a VM is a host reached over SSH, exactly like a pool
host. This module waits until each machine answers SSH with skyhop's key
(`keys.py`), prepares the cluster's directory on it (`ssh/host_ops.probe`),
gives a multi-node head the key that reaches its workers
(`ssh/cluster_key.link_workers`), and returns the `NodeInfo`s that execution
uses, with the SSH target under `extra[TARGET_KEY]` and the cloud's own per-node
facts under `extra[<provider name>]`. Providers and plugins use `connect`,
`runner` and `disconnect`; they never build SSH command lines themselves.

Addresses: a node's `ip` (what `SKYPILOT_NODE_IPS` lists, and how the head
reaches a worker) is the machine's private address; this machine connects to
the public one unless `internal_ips` is asked for (SkyPilot's
`use_internal_ips`: skyhop runs inside the cloud's network, or in the tests,
where the emulated cloud's private addresses are namespace hosts). Host keys
are not checked (`StrictHostKeyChecking=no`): a new VM's key cannot be known
beforehand and clouds reuse private addresses, so a stored key would refuse
the next machine at the same address; SkyPilot does the same.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence

from skyhop.errors import SkyhopError
from skyhop.parallel import each
from skyhop.providers.base import MeasuredSize, NodeInfo
from skyhop.providers.errors import CapacityError, LaunchCancelled
from skyhop.providers.keys import user_key
from skyhop.providers.ssh import cluster_key, host_ops
from skyhop.providers.ssh.runner import TARGET_KEY, HostUnreachable, SSHRunner, SSHTarget

#: How long a new machine may take to answer SSH before the launch gives up on it.
SSH_WAIT_S = 600.0
_RETRY_S = 2.0
_POLICY = "no"


@dataclass(frozen=True)
class Machine:
    """One machine as the cloud reports it once it runs."""

    private_ip: str
    public_ip: str | None = None
    user: str = "root"  # the login the cloud's image has (ubuntu on most cloud images)
    port: int = 22
    facts: Mapping[str, Any] = field(default_factory=dict)  # the provider's per-node record (instance id, ...)


@dataclass(frozen=True)
class Connected:
    """What `connect` found: the nodes in rank order, the smallest machine's size, and the cluster key's comment."""

    nodes: tuple[NodeInfo, ...]
    measured: MeasuredSize
    key_comment: str | None


def target_of(node: NodeInfo) -> SSHTarget:
    return SSHTarget(**node.extra[TARGET_KEY])


def runner(node: NodeInfo) -> SSHRunner:
    """How skyhop runs commands on and copies files to `node` (the provider's `runner`)."""
    return SSHRunner(target_of(node))


def _address(machine: Machine, internal_ips: bool) -> str:
    if internal_ips or not machine.public_ip:
        if not internal_ips:
            raise SkyhopError(
                f"The machine at {machine.private_ip} has no public address; set `use_internal_ips: true` for this cloud in "
                "config.yaml when skyhop runs inside the cloud's network."
            )
        return machine.private_ip
    return machine.public_ip


def connect(
    provider: str, cluster_name: str, machines: Sequence[Machine], *, internal_ips: bool,
    cancelled: Callable[[], bool] = lambda: False, wait_s: float = SSH_WAIT_S, base_dir: str | None = None,
) -> Connected:
    """Wait for SSH on every machine, prepare the cluster's directory, link a multi-node head to its workers.

    A machine that never answers is a CapacityError for its zone (the cloud
    gave a machine it cannot deliver); a cancel ends the wait with
    LaunchCancelled. The caller removes the machines on any error.
    """
    key = str(user_key().private_path)
    targets = [
        SSHTarget(host=_address(m, internal_ips), user=m.user, port=m.port, identity_file=key, host_key_policy=_POLICY)
        for m in machines
    ]
    deadline = time.monotonic() + wait_s
    each(targets, lambda t: _wait_for_ssh(t, deadline, wait_s, cancelled))
    facts = each(targets, lambda t: host_ops.probe(SSHRunner(t), provider, base_dir, cluster_name))
    nodes = [
        NodeInfo(rank, m.private_ip, f.base, {TARGET_KEY: asdict(t), provider: dict(m.facts)}, home=f.home)
        for rank, (m, t, f) in enumerate(zip(machines, targets, facts))
    ]
    comment = None
    if len(nodes) > 1:
        comment = cluster_key.new_comment(cluster_name)
        nodes = cluster_key.link_workers(nodes, comment, target_of, lambda n: replace(target_of(n), host=n.ip))
    measured = MeasuredSize(min(f.cpus for f in facts), min(f.memory_gib for f in facts))
    return Connected(tuple(nodes), measured, comment)


def _wait_for_ssh(target: SSHTarget, deadline: float, wait_s: float, cancelled: Callable[[], bool]) -> None:
    last = ""
    while True:
        if cancelled():
            raise LaunchCancelled(f"Cancelled while waiting for {target.describe()} to answer SSH.")
        try:
            done = SSHRunner(target).run(["true"], timeout=30)
            if done.returncode == 0:
                return
            last = done.stderr.strip()[-200:]
        except HostUnreachable as error:
            last = str(error)
        if time.monotonic() >= deadline:
            raise CapacityError(f"The machine at {target.describe()} did not answer SSH within {wait_s:g} s: {last}")
        time.sleep(_RETRY_S)


def readdress(nodes: Sequence[NodeInfo], machines: Sequence[Machine], internal_ips: bool) -> tuple[NodeInfo, ...]:
    """The nodes after a stop/start: a public address may have changed (private ones stay in a VPC), and
    so may the port (RunPod maps a pod's SSH port anew when it resumes)."""
    out = []
    for node, machine in zip(nodes, machines):
        disconnect([node])  # a connection to the old address would hang until its keep-alives give up
        target = replace(target_of(node), host=_address(machine, internal_ips), port=machine.port)
        out.append(replace(node, ip=machine.private_ip, extra={**dict(node.extra), TARGET_KEY: asdict(target)}))
    return tuple(out)


def disconnect(nodes: Sequence[NodeInfo]) -> None:
    """End skyhop's shared SSH connections to `nodes` (their machines are going away).

    A connection kept to a removed machine would be reused by the next one
    at the same address and hang there; closing it is local and quick.
    """
    for node in nodes:
        if TARGET_KEY in node.extra:
            try:
                runner(node).close()
            except (SkyhopError, OSError):
                pass  # nothing to close


#: The head's self-stop instructions (skyhop_agent/cloudstop.py), in the cluster's directory.
SELF_STOP_FILE = "cloudstop.json"


def install_self_stop(head: NodeInfo, calls: Mapping[str, Mapping[str, Any]]) -> None:
    """Put the head's own stop/down calls on it, for the hooks `self_stop_hooks` names.

    `calls` maps `stop` and/or `down` to a cloudstop call (`{"kind": "aws", ...}`
    or `{"kind": "http", "requests": [...]}`). It may hold credentials, so it
    travels over stdin (never argv) into a 0600 file in the cluster's 0700
    directory, which goes with the machine.
    """
    import json

    path = f"{head.base}/{SELF_STOP_FILE}"
    done = runner(head).run(["sh", "-c", 'umask 077 && cat > "$1.tmp" && mv "$1.tmp" "$1"', "sh", path], input=json.dumps(dict(calls)), timeout=60)
    if done.returncode != 0:
        raise SkyhopError(f"Writing the self-stop file on {target_of(head).describe()} failed: {done.stderr.strip()[-300:]}")


def self_stop_hooks(head: NodeInfo, actions: Sequence[str], python: str = "python3") -> dict[str, list[str]]:
    """The agent's `autostop_hooks` (`SelfStopping`): per action, the argv that makes the call `install_self_stop` stored."""
    path = f"{head.base}/{SELF_STOP_FILE}"
    return {action: [python, "-m", "skyhop_agent.cloudstop", path, action] for action in actions}


def bearer_post(url: str, token: str, body: Any) -> dict[str, Any]:
    """A cloudstop `http` call: POST `body` as JSON to `url` with the API key as a bearer token."""
    return {"kind": "http", "requests": [{"method": "POST", "url": url, "headers": {"Authorization": f"Bearer {token}"}, "body": body}]}
