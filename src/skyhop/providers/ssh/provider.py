"""`ssh`: clusters on machines the user already has, grouped in named pools.

A cluster leases whole hosts from one pool (`infra: ssh/POOL`); too few free
hosts, an unreachable host or one without Python 3.8 is a CapacityError, so
the launch fails over to the next pool in price order. Everything skyhop puts
on a host for a cluster lives in `BASE/CLUSTER` (BASE defaults to `~/.skyhop-node`).
The first host is the head: it runs the node agent, which starts the other
ranks over SSH with the cluster key (cluster_key.py).
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any, Callable, Iterable

from skyhop.catalog.offer import Offer
from skyhop.errors import SkyhopError
from skyhop.parallel import each
from skyhop.providers import base
from skyhop.providers.base import FEATURE_PORTS, Capabilities, ClusterInfo, LaunchRequest, MeasuredSize, NodeInfo, Observed, OfferSource
from skyhop.providers.credentials import CheckResult
from skyhop.providers.errors import CapacityError
from skyhop.providers.ssh import cluster_key, host_ops, leases
from skyhop.providers.ssh.pools import Pool, PoolHost, configured_pools
from skyhop.providers.ssh.reach import HostReach, reach
from skyhop.providers.ssh.runner import HostUnreachable, SSHRunner, SSHTarget

NAME = "ssh"


def _target(node: NodeInfo) -> SSHTarget:
    return SSHTarget(**node.extra["ssh"])


def _runner(node: NodeInfo) -> SSHRunner:
    """The way to a live node; a preempted one (`skyhop chaos`) is gone until the cluster is released."""
    target = _target(node)
    if leases.is_preempted(target.key):
        raise HostUnreachable(f"Cannot reach {target.describe()}: it was preempted (skyhop chaos preempt).")
    return SSHRunner(target)


def _best_effort(work: Callable[[Any], None]) -> Callable[[Any], None]:
    """`work` on one node or host, ignoring that it cannot be reached."""

    def attempt(item: Any) -> None:
        try:
            work(item)
        except (SkyhopError, OSError):
            pass  # an unreachable host keeps what it has; releasing it is what matters for the bill

    return attempt


class SSHProvider:
    name = NAME
    # Pools are machines that exist: each pool is its own candidate, an unsized task takes a host as it is,
    # with the image and disk it has; no spot market either. Ports are the hosts' own: skyhop manages no
    # firewall there, so a port the task asks for is reachable as far as the host's network lets it.
    capabilities = Capabilities(offers=OfferSource.EXISTING, can_stop=True, spot=False, features=frozenset({FEATURE_PORTS}))

    def check(self) -> CheckResult:
        pools = configured_pools()
        if not pools:
            return CheckResult(NAME, False, "no ssh_node_pools in config.yaml")
        described = ", ".join(f"{p.name} ({len(p.hosts)} host{'s' * (len(p.hosts) != 1)}, ${p.price:g}/h)" for p in pools.values())
        return CheckResult(NAME, True, f"pools: {described}")

    def check_machines(self) -> list[HostReach]:
        """Every pool host, reached over SSH now (in parallel; a dead host costs the connect timeout)."""
        return reach(list(configured_pools().values()))

    def offers(self) -> Iterable[Offer]:
        """Each pool as a whole host: for CPU-only tasks, and for every GPU count up to what a host has.

        A task asking for fewer GPUs than a host carries still gets (and pays for) the whole host.
        """
        for pool in configured_pools().values():
            shape = f"pool-{pool.name}"
            yield Offer(NAME, shape, None, 0.0, pool.cpus, pool.memory_gib, pool.name, None, pool.price, None, None)
            for acc, count in pool.accelerators.items():
                for n in range(1, int(count) + 1):
                    yield Offer(NAME, shape, acc, float(n), pool.cpus, pool.memory_gib, pool.name, None, pool.price, None, None)

    def _pool(self, name: str) -> Pool:
        pools = configured_pools()
        if name not in pools:
            raise SkyhopError(f"No SSH node pool named '{name}' in config.yaml (pools: {', '.join(pools) or 'none'}).")
        return pools[name]

    def launch(self, request: LaunchRequest) -> ClusterInfo:
        pool = self._pool(request.offer.region)
        by_key = {h.key: h for h in pool.hosts}
        chosen = self._acquire(pool, request.cluster_name, request.num_nodes)
        hosts = [by_key[key] for key in chosen]
        comment = cluster_key.new_comment(request.cluster_name)
        try:
            leases.note_key(request.cluster_name, comment)  # before any host is touched: find() can clean up after a crash
            facts = each(hosts, lambda h: host_ops.probe(SSHRunner(h.target), f"pool '{pool.name}'", h.base_dir, request.cluster_name))
            nodes = [NodeInfo(rank, h.target.host, f.base, {"ssh": asdict(h.target)}, home=f.home) for rank, (h, f) in enumerate(zip(hosts, facts))]
            # What the smallest host has: the capacity the agent schedules with when the pool does not say.
            measured = MeasuredSize(min(f.cpus for f in facts), min(f.memory_gib for f in facts))
            data = {"hosts": chosen, "created_at": time.time()}
            if len(nodes) > 1:
                nodes = cluster_key.link_workers(nodes, comment, _target)
                data["key_comment"] = comment
            leases.note_head(request.cluster_name, nodes[0].extra["ssh"], nodes[0].base)
        except BaseException:
            _undo_launch(request.cluster_name, hosts, comment)
            raise
        return ClusterInfo(NAME, request.cluster_name, pool.name, None, tuple(nodes), data, python="python3", measured=measured, remove_on_down=(nodes[0].base,))

    def _acquire(self, pool: Pool, cluster_name: str, count: int) -> list[str]:
        keys = [h.key for h in pool.hosts]
        chosen = leases.acquire(cluster_name, keys, count)
        if chosen is None and _reclaim_self_stopped(keys):
            chosen = leases.acquire(cluster_name, keys, count)
        if chosen is None:
            held = leases.holders(keys)
            owners = f" (in use by {', '.join(sorted(set(held.values())))})" if held else ""
            raise CapacityError(f"pool '{pool.name}' has {len(keys) - len(held)} free host(s) of {len(keys)}; {count} needed{owners}.")
        return chosen

    def find(self, cluster_name: str) -> ClusterInfo | None:
        """A launch cut short before its handle was stored: its hosts, from the lease file, to clean up."""
        keys = leases.held_by(cluster_name)
        if not keys:
            return None
        by_key = {h.key: (pool, h) for pool in configured_pools().values() for h in pool.hosts}
        found = [by_key[k] for k in keys if k in by_key]
        nodes = tuple(
            NodeInfo(rank, h.target.host, f"{h.base_dir or '~/.skyhop-node'}/{cluster_name}", {"ssh": asdict(h.target), "base_dir": h.base_dir})
            for rank, (_, h) in enumerate(found)
        )
        region = found[0][0].name if found else None
        return ClusterInfo(NAME, cluster_name, region, None, nodes, {"hosts": keys, "key_comment": leases.key_of(cluster_name), "unfinished": True})

    def query(self, cluster: ClusterInfo) -> Observed:
        if cluster.data.get("unfinished"):
            return Observed(base.TERMINATED)  # a launch that never finished: nothing worth keeping
        def probe(node: NodeInfo) -> tuple[str, str | None]:
            try:
                return host_ops.state(_runner(node), node.base), None
            except (SkyhopError, OSError) as error:
                return "unreachable", f"node {node.rank} ({node.ip}): {error}"

        observed = each(cluster.nodes, probe)
        states = [state for state, _ in observed]
        if states[0] == base.TERMINATED:
            return Observed(base.TERMINATED)  # the head's directory is the cluster (autodown removes it)
        if states[0] == base.STOPPED:
            return Observed(base.STOPPED)
        if all(s == base.RUNNING for s in states):
            return Observed(base.RUNNING)
        reasons = [why or f"node {node.rank} ({node.ip}): its directory {node.base} is gone" for node, (s, why) in zip(cluster.nodes, observed) if s != base.RUNNING]
        return Observed(base.PARTIAL, "; ".join(reasons))

    def stop(self, cluster: ClusterInfo) -> None:
        """End the cluster's processes and give its hosts back (files stay), as far as hosts answer.

        An unreachable or preempted host must not keep the others leased: the
        hosts are released whatever happens.
        """
        try:
            each(cluster.nodes, _best_effort(lambda node: host_ops.end_processes(_runner(node), node.base)))
            _best_effort(lambda head: host_ops.mark_stopped(_runner(head), head.base))(cluster.head)
        finally:
            leases.release(cluster.cluster_name)

    def start(self, cluster: ClusterInfo) -> ClusterInfo:
        hosts = list(cluster.data.get("hosts") or [])
        chosen = leases.acquire(cluster.cluster_name, hosts, len(hosts), prefer=hosts)
        if chosen is None or sorted(chosen) != sorted(hosts):
            if chosen is not None:
                leases.release(cluster.cluster_name)
            taken = leases.holders(hosts)
            raise CapacityError(f"Cannot start '{cluster.cluster_name}': its hosts are in use ({', '.join(f'{h} by {c}' for h, c in taken.items())}).")
        head = cluster.head
        try:
            # The marker goes first: once the head is noted, a launch short of hosts asks it
            # whether this cluster stopped itself, and must not hear "stopped".
            host_ops.clear_stopped(_runner(head), head.base)
            leases.note_head(cluster.cluster_name, head.extra["ssh"], head.base)
        except BaseException:
            leases.release(cluster.cluster_name)
            raise
        return cluster

    def terminate(self, cluster: ClusterInfo) -> None:
        """End skyhop's processes, revoke the cluster key and remove its files on every host, then release them.

        Preempted hosts are cleaned too: the chaos was make-believe, the files are real.
        """
        if cluster.data.get("unfinished"):
            hosts = [PoolHost(SSHTarget(**node.extra["ssh"]), node.extra.get("base_dir")) for node in cluster.nodes]
            _undo_launch(cluster.cluster_name, hosts, cluster.data.get("key_comment"))
            return
        comment = cluster.data.get("key_comment")

        def clean(node: NodeInfo) -> None:
            runner = SSHRunner(_target(node))
            host_ops.end_processes(runner, node.base)
            if comment and node.rank > 0:
                cluster_key.revoke(runner, comment)
            host_ops.wipe(runner, node.base)

        try:
            each(cluster.nodes, _best_effort(clean))
        finally:
            leases.release(cluster.cluster_name)

    def preempt(self, cluster: ClusterInfo, rank: int) -> None:
        """Chaos: the node's processes die and skyhop (the head included) cannot reach it until the cluster is released."""
        node = cluster.nodes[rank]
        runner = _runner(node)
        host_ops.end_processes(runner, node.base)
        comment = cluster.data.get("key_comment")
        if comment and rank > 0:
            cluster_key.revoke(runner, comment)
        leases.mark_preempted(cluster.cluster_name, _target(node).key)
        runner.close()

    def runner(self, cluster: ClusterInfo, node: NodeInfo) -> SSHRunner:
        return _runner(node)


def _undo_launch(cluster_name: str, hosts: list[PoolHost], comment: str | None) -> None:
    """Everything a launch may have done on its hosts, undone as far as they answer; then the leases go."""

    def undo(host: PoolHost) -> None:
        runner = SSHRunner(host.target)
        if comment:
            cluster_key.revoke(runner, comment)
        host_ops.wipe_unprobed(runner, host.base_dir, cluster_name)

    try:
        each(hosts, _best_effort(undo))
    finally:
        leases.release(cluster_name)


def _reclaim_self_stopped(keys: list[str]) -> bool:
    """Release the hosts of clusters whose head stopped or removed itself (autostop with no client running).

    The lease file lives with the client, so a cluster that stopped itself
    still holds its hosts here until someone looks; a launch short of hosts
    looks. True when something was released.
    """
    owners = sorted(set(leases.holders(keys).values()))

    def gone_idle(owner: str) -> bool:
        head = leases.head_of(owner)
        if head is None:
            return False
        try:
            return host_ops.state(SSHRunner(SSHTarget(**head["target"])), head["base"]) != base.RUNNING
        except (SkyhopError, OSError):
            return False

    idle = [owner for owner, is_idle in zip(owners, each(owners, gone_idle)) if is_idle]
    for owner in idle:
        leases.release(owner)
    return bool(idle)
