"""`ssh`: clusters on machines the user already has, grouped in named pools.

A cluster leases whole hosts from one pool (`infra: ssh/POOL`); too few free
hosts, an unreachable host or one without Python 3.8 is a CapacityError, so
the launch fails over to the next pool in price order. Everything skyhop puts
on a host for a cluster lives in `BASE/CLUSTER` (BASE defaults to `~/.skyhop-node`).
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Iterable

from skyhop.catalog.offer import Offer
from skyhop.errors import SkyhopError
from skyhop.providers import base
from skyhop.providers.base import ClusterInfo, LaunchRequest, NodeInfo
from skyhop.providers.credentials import CheckResult
from skyhop.providers.errors import CapacityError, NotSupportedError
from skyhop.providers.ssh import leases
from skyhop.providers.ssh.pools import Pool, PoolHost, configured_pools
from skyhop.providers.ssh.runner import SSHRunner, SSHTarget

NAME = "ssh"
STOPPED_MARKER = "stopped"  # the same file the agent's self-stop writes
PROBE = 'echo "$HOME"; python3 -c "import sys; print(int(sys.version_info >= (3, 8)))" 2>/dev/null || echo 0'


def _runner(node: NodeInfo) -> SSHRunner:
    return SSHRunner(SSHTarget(**node.extra["ssh"]))


class SSHProvider:
    name = NAME

    def check(self) -> CheckResult:
        pools = configured_pools()
        if not pools:
            return CheckResult(NAME, False, "no ssh_node_pools in config.yaml")
        described = ", ".join(f"{p.name} ({len(p.hosts)} host{'s' * (len(p.hosts) != 1)}, ${p.price:g}/h)" for p in pools.values())
        return CheckResult(NAME, True, f"pools: {described}")

    def offers(self) -> Iterable[Offer]:
        for pool in configured_pools().values():
            acc, count = next(iter(pool.accelerators.items()), (None, 0.0))
            yield Offer(NAME, f"pool-{pool.name}", acc, float(count), pool.cpus, pool.memory_gib, pool.name, None, pool.price, None, None)

    def _pool(self, name: str) -> Pool:
        pools = configured_pools()
        if name not in pools:
            raise SkyhopError(f"No SSH node pool named '{name}' in config.yaml (pools: {', '.join(pools) or 'none'}).")
        return pools[name]

    def launch(self, request: LaunchRequest) -> ClusterInfo:
        if request.num_nodes > 1:
            # Until the head agent starts each rank on its own host (cluster key + ssh gang),
            # a multi-node job would run every rank on the head: refuse rather than mislead.
            raise NotSupportedError("multi-node clusters on SSH pools are not supported yet (one node per cluster for now).")
        pool = self._pool(request.offer.region)
        by_key = {h.key: h for h in pool.hosts}
        chosen = leases.acquire(request.cluster_name, list(by_key), request.num_nodes)
        if chosen is None:
            held = leases.holders(list(by_key))
            raise CapacityError(
                f"pool '{pool.name}' has {len(by_key) - len(held)} free host(s) of {len(by_key)}; {request.num_nodes} needed."
            )
        try:
            with ThreadPoolExecutor(max_workers=len(chosen)) as pool_threads:
                nodes = list(pool_threads.map(lambda item: _prepare(pool, request.cluster_name, item[0], by_key[item[1]]), enumerate(chosen)))
        except BaseException:
            leases.release(request.cluster_name)
            raise
        return ClusterInfo(NAME, request.cluster_name, pool.name, None, tuple(nodes), {"python": "python3", "hosts": chosen, "created_at": time.time()})

    def find(self, cluster_name: str) -> ClusterInfo | None:
        return None  # the handle is stored before any host is touched; leases are released by terminate

    def query(self, cluster: ClusterInfo) -> str:
        def probe(node: NodeInfo) -> str:
            try:
                done = _runner(node).run(["sh", "-c", 'test -d "$1" || exit 3; test -e "$1/$2" && exit 4; exit 0', "sh", node.base, STOPPED_MARKER], timeout=30)
            except (SkyhopError, OSError):
                return "unreachable"
            return {0: base.RUNNING, 3: base.TERMINATED, 4: base.STOPPED}.get(done.returncode, "unreachable")

        with ThreadPoolExecutor(max_workers=len(cluster.nodes)) as threads:
            states = list(threads.map(probe, cluster.nodes))
        if all(s == base.TERMINATED for s in states):
            return base.TERMINATED
        if states[0] == base.STOPPED:
            return base.STOPPED
        if all(s == base.RUNNING for s in states):
            return base.RUNNING
        return base.PARTIAL

    def stop(self, cluster: ClusterInfo) -> None:
        self._end_processes(cluster)
        head = cluster.head
        _runner(head).run(["sh", "-c", 'date +%s > "$1/$2"', "sh", head.base, STOPPED_MARKER])
        leases.release(cluster.cluster_name)  # stopped hosts go back to the pool; files stay

    def start(self, cluster: ClusterInfo) -> ClusterInfo:
        hosts = list(cluster.data.get("hosts") or [])
        chosen = leases.acquire(cluster.cluster_name, hosts, len(hosts), prefer=hosts)
        if chosen is None or sorted(chosen) != sorted(hosts):
            if chosen is not None:
                leases.release(cluster.cluster_name)
            taken = leases.holders(hosts)
            raise CapacityError(f"Cannot start '{cluster.cluster_name}': its hosts are in use ({', '.join(f'{h} by {c}' for h, c in taken.items())}).")
        head = cluster.head
        _runner(head).run(["rm", "-f", f"{head.base}/{STOPPED_MARKER}"])
        return cluster

    def terminate(self, cluster: ClusterInfo) -> None:
        """End skyhop's processes and remove its files on every host, then release the hosts."""
        self._end_processes(cluster, best_effort=True)

        def wipe(node: NodeInfo) -> None:
            try:
                _runner(node).run(["rm", "-rf", node.base], timeout=120)
            except (SkyhopError, OSError):
                pass  # an unreachable host keeps its files; releasing it is what matters for the bill

        with ThreadPoolExecutor(max_workers=len(cluster.nodes)) as threads:
            list(threads.map(wipe, cluster.nodes))
        leases.release(cluster.cluster_name)

    def _end_processes(self, cluster: ClusterInfo, best_effort: bool = False) -> None:
        def end(node: NodeInfo) -> None:
            pattern = f"skyhop_agent --base {re.escape(node.base)}( |$)"
            try:
                _runner(node).run(["sh", "-c", 'pkill -TERM -f -- "$1"; sleep 0.5; pkill -KILL -f -- "$1"; exit 0', "sh", pattern], timeout=60)
            except (SkyhopError, OSError):
                if not best_effort:
                    raise

        with ThreadPoolExecutor(max_workers=len(cluster.nodes)) as threads:
            list(threads.map(end, cluster.nodes))

    def runner(self, cluster: ClusterInfo, node: NodeInfo) -> SSHRunner:
        return _runner(node)


def _prepare(pool: Pool, cluster_name: str, rank: int, host: PoolHost) -> NodeInfo:
    """Reach the host, learn its home, check its Python: a NodeInfo, or a CapacityError saying why not."""
    runner = SSHRunner(host.target)
    try:
        done = runner.run(["sh", "-c", PROBE], timeout=60)
    except SkyhopError as error:
        raise CapacityError(f"pool '{pool.name}': {error}") from None
    lines = done.stdout.split()
    if done.returncode != 0 or len(lines) < 2:
        raise CapacityError(f"pool '{pool.name}': probing {host.target.describe()} failed: {done.stderr.strip()[-300:]}")
    home, python_ok = lines[0], lines[-1] == "1"
    if not python_ok:
        raise CapacityError(f"pool '{pool.name}': {host.target.describe()} has no Python 3.8+ (`python3`), which skyhop's node agent needs.")
    # One directory per cluster: a stopped cluster's files stay while another cluster uses the host.
    node_base = f"{host.base_dir or home + '/.skyhop-node'}/{cluster_name}"
    return NodeInfo(rank, host.target.host, node_base, {"ssh": asdict(host.target), "home": home})
