"""Autodown on Lambda: the head terminates its own cluster through the API when autostop fires.

Lambda cannot stop an instance, so autostop with `--down` is the only kind;
the agent runs the `down` hook with no client around. The hook is a fixed
stdlib program (`SELF_TERMINATE`, Python >= 3.8 like the agent) that reads
a 0600 file in the head's cluster directory: the API endpoint, the key and
the cluster's instance ids. The key is on the head for that reason only, as
SkyPilot also uploads Lambda's key to its clusters; the file goes when the
cluster goes. It never travels in argv: the hook's argv names the file, and
the file is written over SSH's stdin.
"""

from __future__ import annotations

import json
from typing import Sequence

from skyhop.errors import SkyhopError
from skyhop.providers import vm
from skyhop.providers.base import NodeInfo

FILE = "lambda-autodown.json"

SELF_TERMINATE = """
import json, sys, urllib.request
with open(sys.argv[1]) as f:
    cfg = json.load(f)
req = urllib.request.Request(
    cfg["endpoint"].rstrip("/") + "/instance-operations/terminate",
    data=json.dumps({"instance_ids": cfg["instance_ids"]}).encode(), method="POST",
    headers={"Authorization": "Bearer " + cfg["key"], "Content-Type": "application/json", "User-Agent": "skyhop-autodown"})
urllib.request.urlopen(req, timeout=60).read()
"""


def path_on(head: NodeInfo) -> str:
    return f"{head.base}/{FILE}"


def hook(head: NodeInfo) -> list[str]:
    """The argv the head's agent runs to terminate the cluster."""
    return ["python3", "-c", SELF_TERMINATE, path_on(head)]


def install(head: NodeInfo, endpoint: str, key: str, instance_ids: Sequence[str]) -> None:
    """Write the hook's file on the head (0600, through stdin: the key is in no command line)."""
    content = json.dumps({"endpoint": endpoint, "key": key, "instance_ids": list(instance_ids)})
    done = vm.runner(head).run(["sh", "-c", 'umask 077 && cat > "$1"', "sh", path_on(head)], input=content, timeout=60)
    if done.returncode != 0:
        raise SkyhopError(f"Could not write the autodown file on the head: {done.stderr.strip()[-300:]}")
