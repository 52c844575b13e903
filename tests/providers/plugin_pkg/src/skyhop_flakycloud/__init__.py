"""A provider whose failures are scripted: stands in for a cloud's capacity errors.

Clouds cannot be asked to run out of capacity on demand, so this replays the
two failures the failover loop must handle: "no capacity" (CapacityError from
launch) and "machines were created, then bootstrapping them failed". The mode
is read from `$SKYHOP_HOME/flaky-mode`; every call is appended to
`$SKYHOP_HOME/flaky-calls`, so tests can check that what was created was removed.
"""

import os
import shutil
from pathlib import Path

from skyhop.catalog.offer import Offer
from skyhop.providers.base import ClusterInfo, NodeInfo
from skyhop.providers.credentials import CheckResult
from skyhop.providers.errors import CapacityError
from skyhop.providers.runner import LocalRunner


def _home() -> Path:
    return Path(os.environ["SKYHOP_HOME"])


def _log(entry: str) -> None:
    with open(_home() / "flaky-calls", "a") as f:
        f.write(entry + "\n")


class FlakyCloud:
    name = "flakycloud"

    def check(self):
        return CheckResult("flakycloud", True, "scripted failures")

    def offers(self):
        # Free, so it sorts before `local` (ties break by cloud name) and is tried first.
        yield Offer("flakycloud", "flaky-1", None, 0.0, 8.0, 32.0, "flaky-region", None, 0.0, None, None)

    def launch(self, request):
        mode = (_home() / "flaky-mode").read_text().strip()
        _log(f"launch {request.cluster_name} {mode}")
        if mode == "capacity":
            raise CapacityError("flakycloud: no capacity in flaky-region right now.")
        root = _home() / "flaky" / request.cluster_name
        root.mkdir(parents=True)
        node = NodeInfo(0, "127.0.0.1", str(root / "node-0"))
        # A python that does not exist: installing the agent fails after the machine exists.
        return ClusterInfo("flakycloud", request.cluster_name, "flaky-region", None, (node,), {"root": str(root)}, python="/nonexistent/python3")

    def find(self, cluster_name):
        return None

    def query(self, cluster):
        return "RUNNING" if Path(cluster.data["root"]).exists() else "TERMINATED"

    def stop(self, cluster):
        raise NotImplementedError

    def start(self, cluster):
        raise NotImplementedError

    def terminate(self, cluster):
        _log(f"terminate {cluster.cluster_name}")
        shutil.rmtree(cluster.data["root"], ignore_errors=True)

    def runner(self, cluster, node):
        return LocalRunner()
