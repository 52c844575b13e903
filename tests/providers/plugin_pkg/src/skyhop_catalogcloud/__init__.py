"""Providers for two clouds of the price catalog (`shadeform`, `primeintellect`), as a third party adds one.

Both are clouds skyhop has no built-in provider for (a plugin may not replace a
built-in one: `lambda`, which this package used to take, is one since issue 10).

What the acceptance test of issue 9 needs: a plugin that takes a catalog
cloud's name still plans with that cloud's catalog offers (it declares
`OfferSource.CATALOG` and lists no offers of its own), and launches "nodes"
for real as directories on this machine, so the job runs. A cloud cannot be
made to run out of capacity on demand, so failures are scripted: the JSON file
`$SKYHOP_HOME/catalogcloud.json` maps infra (`cloud`, `cloud/region` or
`cloud/region/zone`) to `capacity`, `quota` or `auth`, and doubles as the
credentials (no file: the cloud is not enabled). `hang` creates the nodes and
then never returns, as a provider call does when the API server dies under it
(the crash tests kill the server there), unless the request is cancelled. Every launch is appended to
`$SKYHOP_HOME/catalogcloud-calls` as `CLOUD/REGION/ZONE RESULT`, and the task's
machine choices it was handed as one JSON line in `$SKYHOP_HOME/catalogcloud-requests`.

What each declares (feature gating, issue 10): `shadeform` honours custom
images and disks and opens ports; `primeintellect` sells no spot and puts one
node in a cluster, so planning keeps such tasks off it.

Spot replicas of a service (issue 12) need preemptions on demand: `preempt` (`skyhop chaos preempt`)
marks the node and ends the cluster's processes, and `query` reports the node reclaimed from then on,
as the local provider does. `shadeform`'s nodes all listen on this machine (`shared_network`), so
serving gives each replica a port of its own.

Each cluster's directory stands for a marked cloud resource (`OwnedLister`):
`owned` lists them, `remove_owned` ends their processes and removes them, so
the orphan listing and `down --orphans` are tested through a real plugin.
"""

import json
import os
import shutil
import sys
import time
from pathlib import Path

from skyhop.providers.base import FEATURE_DISK_SIZE, FEATURE_DISK_TIER, FEATURE_IMAGE_ID, Capabilities, ClusterInfo, NodeInfo, OfferSource, OwnedResource
from skyhop.providers.base import preempted as reclaimed_nodes
from skyhop.providers.credentials import CheckResult
from skyhop.providers.errors import AuthError, CapacityError, LaunchCancelled, NotSupportedError, QuotaError
from skyhop.providers.runner import LocalRunner
from skyhop_agent.marked import end_marked

MARKER = "SKYHOP_CATALOGCLOUD_CLUSTER"  # carried by every process of a cluster, as the local provider does
ERRORS = {"capacity": CapacityError, "quota": QuotaError, "auth": AuthError}
PREEMPTED = "preempted.json"  # in a node's directory once `preempt` took it


def _home() -> Path:
    return Path(os.environ["SKYHOP_HOME"])


def _script():
    path = _home() / "catalogcloud.json"
    return json.loads(path.read_text()) if path.exists() else None


class _CatalogCloud:
    name = ""
    # The registration line's counterpart: offers come from the price catalog under this name.
    capabilities = Capabilities(offers=OfferSource.CATALOG, can_stop=False)

    def check(self):
        if _script() is None:
            return CheckResult(self.name, False, "no scripted credentials")
        return CheckResult(self.name, True, "scripted credentials")

    def launch(self, request):
        offer = request.offer
        where = "/".join(p for p in (offer.cloud, offer.region, offer.zone) if p)
        failures = _script() or {}
        # The most specific entry wins: zone, then region, then the whole cloud.
        keys = [where, f"{offer.cloud}/{offer.region}", offer.cloud]
        failure = next((failures[k] for k in keys if k in failures), None)
        with open(_home() / "catalogcloud-calls", "a") as calls:
            calls.write(f"{where} {failure or 'launched'}\n")
        with open(_home() / "catalogcloud-requests", "a") as requests:
            asked = {"cloud": offer.cloud, "num_nodes": request.num_nodes, "use_spot": request.use_spot, "image_id": request.image_id}
            requests.write(json.dumps({**asked, "disk_size_gb": request.disk_size_gb, "disk_tier": request.disk_tier, "ports": list(request.ports)}) + "\n")
        if failure in ERRORS:
            raise ERRORS[failure](f"{self.name}: scripted {failure} failure in {where}.")
        root = _home() / "catalogcloud" / request.cluster_name
        nodes = [NodeInfo(r, "127.0.0.1", str(root / f"node-{r}"), home=str(root / f"node-{r}")) for r in range(request.num_nodes)]
        gpus = {offer.accelerator: tuple(range(int(offer.accelerator_count)))} if offer.accelerator else {}
        info = ClusterInfo(
            self.name, request.cluster_name, offer.region, offer.zone, tuple(nodes), {"root": str(root), "created_at": time.time()},
            python=sys.executable, gpu_ids=gpus, remove_on_down=(str(root),),
        )
        for node in nodes:
            Path(node.base).mkdir(parents=True)
        (root / "provider.json").write_text(json.dumps(info.to_json()))  # what `find` recovers after a crash
        while failure == "hang":
            if request.cancelled():  # as a cloud provider does mid-wait: remove what it made, then say so
                self.terminate(info)
                raise LaunchCancelled(f"{self.name}: launch of {request.cluster_name} cancelled; its nodes were removed.")
            time.sleep(0.2)
        return info

    def find(self, cluster_name):
        try:
            return ClusterInfo.from_json(json.loads((_home() / "catalogcloud" / cluster_name / "provider.json").read_text()))
        except (OSError, ValueError, KeyError):
            return None

    def query(self, cluster):
        if not Path(cluster.data["root"]).exists():
            return "TERMINATED"
        reclaimed = {n.rank: "skyhop chaos preempt" for n in cluster.nodes if (Path(n.base) / PREEMPTED).exists()}
        return reclaimed_nodes(reclaimed) if reclaimed else "RUNNING"

    def preempt(self, cluster, rank):
        """Chaos: the node is marked reclaimed, and the cluster's processes end (its nodes share one marker)."""
        (Path(cluster.nodes[rank].base) / PREEMPTED).write_text(json.dumps({"at": time.time()}))
        end_marked(MARKER, cluster.data["root"])

    def stop(self, cluster):
        raise NotSupportedError(f"{self.name} machines cannot be stopped.")

    def start(self, cluster):
        raise NotSupportedError(f"{self.name} machines cannot be started.")

    def terminate(self, cluster):
        end_marked(MARKER, cluster.data["root"])
        shutil.rmtree(cluster.data["root"], ignore_errors=True)

    def runner(self, cluster, node):
        return LocalRunner({MARKER: cluster.data["root"]})

    def owned(self):
        out = []
        for found in sorted((_home() / "catalogcloud").glob("*/provider.json")):
            info = ClusterInfo.from_json(json.loads(found.read_text()))
            if info.provider == self.name:
                out.append(OwnedResource("node-dir", info.cluster_name, info.region, info.cluster_name, found.stat().st_mtime))
        return out

    def remove_owned(self, resources):
        for resource in resources:
            root = _home() / "catalogcloud" / resource.id
            end_marked(MARKER, str(root))
            shutil.rmtree(root, ignore_errors=True)


class ShadeformCloud(_CatalogCloud):
    """Can open ports (a `PortOpener`): each call is appended to the calls file as `open_ports CLUSTER PORTS`."""

    name = "shadeform"
    capabilities = Capabilities(
        offers=OfferSource.CATALOG, can_stop=False, shared_network=True, features=frozenset({FEATURE_IMAGE_ID, FEATURE_DISK_SIZE, FEATURE_DISK_TIER}),
    )

    def open_ports(self, cluster, ports):
        with open(_home() / "catalogcloud-calls", "a") as calls:
            calls.write(f"open_ports {cluster.cluster_name} {','.join(ports)}\n")


class PrimeIntellectCloud(_CatalogCloud):
    name = "primeintellect"
    capabilities = Capabilities(offers=OfferSource.CATALOG, can_stop=False, spot=False, max_nodes=1)
