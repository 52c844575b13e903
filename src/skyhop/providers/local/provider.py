"""`local`: a cluster is `SKYHOP_HOME/clusters/<name>/node-<rank>/` plus processes.

Always available and free, unless config.yaml says otherwise (`local: {hourly_price: 3600}`: what
one node costs per hour, for demonstrating budgets and cost reports; tests trip a $5 budget in
seconds with it). Every node is this machine (IP 127.0.0.1), so a
node may ask for at most what the machine has; several nodes or clusters
share it the way containers without limits would. Stop = end the cluster's
processes and leave a marker; start = remove the marker (the execution layer
restarts the agent); terminate = end the processes and delete the directory.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Iterable

from skyhop import paths
from skyhop.catalog.offer import Offer
from skyhop.providers import base
from skyhop.providers.base import FEATURE_PORTS, Capabilities, ClusterInfo, LaunchRequest, NodeInfo, Observed, OfferSource
from skyhop.providers.credentials import CheckResult
from skyhop.providers.errors import CapacityError
from skyhop.providers.local.machine import this_machine
from skyhop.providers.runner import LocalRunner
from skyhop_agent.marked import end_marked
from skyhop_agent.nodeexec import NODE_MARKER

NAME = "local"
REGION = "local"
INSTANCE_TYPE = "local"
#: Every process started for a local cluster carries MARKER=<cluster dir>: powering the
#: cluster off is ending every process that carries it (skyhop_agent.marked).
MARKER = "SKYHOP_LOCAL_CLUSTER"
STOPPED_MARKER = "stopped"  # written in the head's base dir; the agent's self-stop writes the same file
PREEMPTED_MARKER = "preempted"  # written in a node's dir by `skyhop chaos preempt`


def clusters_dir() -> Path:
    return paths.home() / "clusters"


class LocalProvider:
    name = NAME
    # This machine exists already; it joins a search only when asked (users with clouds do not
    # expect jobs on their laptop), and its state is files, cheap to read on every `status`.
    # A node is a directory here, not a machine: `/data` would be this machine's own /data.
    # It is no spot market, and it takes the image and disk it has. Ports need no opening (a node's
    # programs listen on this machine), but every node shares this machine's ports.
    capabilities = Capabilities(
        offers=OfferSource.EXISTING, can_stop=True, opt_in=True, cheap_query=True, own_filesystem=False, spot=False,
        shared_network=True, features=frozenset({FEATURE_PORTS}),
    )

    def check(self) -> CheckResult:
        m = this_machine()
        gpus = f", {len(m.gpu_ids)}x {m.gpu_name}" if m.gpu_ids else ""
        return CheckResult(NAME, True, f"this machine: {m.cpus} CPUs, {m.memory_gib:g} GiB{gpus}")

    def offers(self) -> Iterable[Offer]:
        """This machine as it is, plus each smaller GPU count so `H100:1` lands on an 8-GPU box."""
        m = this_machine()
        price = _hourly_price()
        yield Offer(NAME, INSTANCE_TYPE, None, 0.0, float(m.cpus), m.memory_gib, REGION, None, price, None, None)
        for count in range(1, len(m.gpu_ids) + 1):
            yield Offer(NAME, INSTANCE_TYPE, m.gpu_name, float(count), float(m.cpus), m.memory_gib, REGION, None, price, None, m.gpu_memory_gib)

    def _check_capacity(self, request: LaunchRequest) -> None:
        m = this_machine()
        offer = request.offer
        problems = []
        if request.cpus is not None and request.cpus > m.cpus:
            problems.append(f"{request.cpus:g} CPUs asked, this machine has {m.cpus}")
        if request.memory_gib is not None and request.memory_gib > m.memory_gib:
            problems.append(f"{request.memory_gib:g} GiB of memory asked, this machine has {m.memory_gib:g}")
        if offer.accelerator and (offer.accelerator != m.gpu_name or offer.accelerator_count > len(m.gpu_ids)):
            have = f"{len(m.gpu_ids)}x {m.gpu_name}" if m.gpu_ids else "no GPUs"
            problems.append(f"{offer.accelerator}:{offer.accelerator_count:g} asked, this machine has {have}")
        if request.use_spot:
            problems.append("spot was asked, this machine is not a spot market")
        if problems:
            raise CapacityError("The local machine cannot fit this request: " + "; ".join(problems) + ".")

    def launch(self, request: LaunchRequest) -> ClusterInfo:
        self._check_capacity(request)
        root = paths.private_dir(clusters_dir()) / request.cluster_name
        # `~/` in file_mount destinations lands in the node's directory.
        nodes = [NodeInfo(r, "127.0.0.1", str(root / f"node-{r}"), home=str(root / f"node-{r}")) for r in range(request.num_nodes)]
        offer = request.offer
        gpu_ids = {offer.accelerator: tuple(this_machine().gpu_ids[: int(offer.accelerator_count)])} if offer.accelerator else {}
        info = ClusterInfo(
            NAME, request.cluster_name, REGION, None, tuple(nodes), {"root": str(root), "created_at": time.time()},
            python=sys.executable, gpu_ids=gpu_ids, remove_on_down=(str(root),),
        )
        try:
            # The handle first: a crash after any directory exists leaves what `find` needs.
            # Owner-only, like a node's home: job tables and logs inside hold secret values.
            root.mkdir(mode=0o700, parents=True, exist_ok=True)
            _write_json(root / "provider.json", info.to_json())
            for node in nodes:
                Path(node.base).mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as error:
            shutil.rmtree(root, ignore_errors=True)
            raise CapacityError(f"Could not create the local cluster directory {root}: {error.strerror or error}.") from None
        return info

    def find(self, cluster_name: str) -> ClusterInfo | None:
        """What a launch interrupted by a crash left behind, from the directory alone."""
        path = clusters_dir() / cluster_name / "provider.json"
        try:
            return ClusterInfo.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError):
            return None

    def query(self, cluster: ClusterInfo) -> Observed:
        present = [Path(n.base).is_dir() for n in cluster.nodes]
        if not any(present):
            return Observed(base.TERMINATED)
        lost = [f"node {n.rank}: its directory {n.base} is gone" for n, there in zip(cluster.nodes, present) if not there]
        lost += [f"node {n.rank}: {_preempted_reason(n)}" for n in cluster.nodes if (Path(n.base) / PREEMPTED_MARKER).exists()]
        if lost:
            return Observed(base.PARTIAL, "; ".join(lost))
        if (Path(cluster.head.base) / STOPPED_MARKER).exists():
            return Observed(base.STOPPED)
        return Observed(base.RUNNING)

    def stop(self, cluster: ClusterInfo) -> None:
        root = cluster.data["root"]
        end_marked(MARKER, root)
        head = Path(cluster.head.base)
        if head.is_dir():
            _write_json(head / STOPPED_MARKER, {"reason": "stopped by skyhop", "at": time.time()})

    def start(self, cluster: ClusterInfo) -> ClusterInfo:
        (Path(cluster.head.base) / STOPPED_MARKER).unlink(missing_ok=True)
        return cluster

    def terminate(self, cluster: ClusterInfo) -> None:
        root = cluster.data["root"]
        end_marked(MARKER, root)
        shutil.rmtree(root, ignore_errors=True)

    def preempt(self, cluster: ClusterInfo, rank: int) -> None:
        """Chaos: the node's processes die (all of the cluster's, for the head) and it counts as lost until `down`."""
        node = cluster.nodes[rank]
        _write_json(Path(node.base) / PREEMPTED_MARKER, {"at": time.time()})
        if rank == 0:
            end_marked(MARKER, cluster.data["root"])
        else:
            end_marked(NODE_MARKER, node.base)

    def runner(self, cluster: ClusterInfo, node: NodeInfo) -> LocalRunner:
        return LocalRunner({MARKER: cluster.data["root"]})


def _hourly_price() -> float:
    """`local.hourly_price` of config.yaml (default 0: this machine is already paid for)."""
    from skyhop.config import cloud_section, number_settings

    return number_settings(cloud_section(NAME), NAME, {"hourly_price": (0.0, 0.0)})["hourly_price"]


def _preempted_reason(node: NodeInfo) -> str:
    try:
        at = json.loads((Path(node.base) / PREEMPTED_MARKER).read_text())["at"]
    except (OSError, ValueError, KeyError, TypeError):
        return "preempted"
    return f"preempted at {time.strftime('%H:%M:%S', time.localtime(at))} (skyhop chaos preempt)"


def _write_json(path: Path, data: object) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)
