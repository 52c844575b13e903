"""Autostop on an API-key cloud: the head asks the cloud's API to stop or remove its own cluster.

The agent runs a provider's `autostop_hooks` argv when autostop fires, with
no client around (`base.SelfStopping`). For Lambda and RunPod that argv is
one fixed stdlib program (`PROGRAM`, Python >= 3.8 like the agent) that
POSTs the JSON body for its action to the cloud's API, with the key as a
bearer token, all read from a 0600 file in the head's cluster directory.
The key is on the head for that reason only (SkyPilot also uploads these
clouds' keys to their clusters), and never in a command line: the hook's
argv names the file and the action, and the file is written over SSH's
stdin. A GraphQL answer carrying `errors` fails the hook, as an HTTP error
does, so the agent reports it and tries again later.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from skyhop.errors import SkyhopError
from skyhop.providers import vm
from skyhop.providers.base import NodeInfo

PROGRAM = """
import json, sys, urllib.request
with open(sys.argv[1]) as f:
    cfg = json.load(f)
req = urllib.request.Request(
    cfg["url"], data=json.dumps(cfg["calls"][sys.argv[2]]).encode(), method="POST",
    headers={"Authorization": "Bearer " + cfg["key"], "Content-Type": "application/json", "User-Agent": "skyhop-autostop"})
answer = json.loads(urllib.request.urlopen(req, timeout=60).read() or b"null")
if isinstance(answer, dict) and answer.get("errors"):
    sys.exit("the API refused: %s" % answer["errors"])
"""


def _path(head: NodeInfo, cloud: str) -> str:
    return f"{head.base}/{cloud}-autostop.json"


def hooks(head: NodeInfo, cloud: str, actions: tuple[str, ...]) -> dict[str, list[str]]:
    """The argv per autostop action (`stop`, `down`) the head's agent runs."""
    return {action: ["python3", "-c", PROGRAM, _path(head, cloud), action] for action in actions}


def install(head: NodeInfo, cloud: str, url: str, key: str, calls: Mapping[str, Any]) -> None:
    """Write the hooks' file on the head: the URL to POST to, the key, and the body of each action (0600, via stdin)."""
    content = json.dumps({"url": url, "key": key, "calls": dict(calls)})
    done = vm.runner(head).run(["sh", "-c", 'umask 077 && cat > "$1"', "sh", _path(head, cloud)], input=content, timeout=60)
    if done.returncode != 0:
        raise SkyhopError(f"Could not write the autostop file on the head: {done.stderr.strip()[-300:]}")
