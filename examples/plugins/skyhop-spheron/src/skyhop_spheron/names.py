"""Ownership marks in names: Spheron deployments and SSH keys carry no tags.

skyhop marks every resource it creates with the installation's owner id,
the cluster and the launch (`skyhop.providers._owned`), so `find` after a
crash, `down` and the orphan listing recognise exactly this installation's
resources. Spheron has only a `name`, so the marks go there:
`skyhop-<owner8>-<cluster>-<launch id>-<rank>` for the deployment of node
`rank`, `...-<launch id>-key` for the launch's SSH key. The user mark has no
room there and is not needed to tell installations apart (the owner id does). The docs give no
length limit for a deployment name; at most 96 characters come out for
skyhop's longest cluster name (63), under `LIMIT`, so no name is ever cut and
the cluster it names is read back whole (`down --orphans` must never take a
live cluster's machine for an orphan). A name is matched by rebuilding it,
never by a prefix: cluster `a` must not claim cluster `a-b`'s machines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from skyhop.providers._owned import resource_name

KEY = "key"
LIMIT = 128
_TAIL = re.compile(r"^skyhop-(?P<owner>[0-9a-f]{8})-(?P<middle>.+)-(?P<launch>[0-9a-f]{12})-(?P<part>\d+|key)$")


@dataclass(frozen=True)
class Marked:
    """What a name says: the launch that made it and which part (a node's rank, or `key`)."""

    launch_id: str
    part: str
    cluster: str


def deployment_name(owner: str, cluster: str, launch_id: str, rank: int) -> str:
    return resource_name(owner, cluster, f"{launch_id}-{rank}", limit=LIMIT)


def key_name(owner: str, cluster: str, launch_id: str) -> str:
    return resource_name(owner, cluster, f"{launch_id}-{KEY}", limit=LIMIT)


def parse(name: str, owner: str) -> Marked | None:
    """The marks of a name this installation gave; None for anything else."""
    match = _TAIL.match(name)
    if match is None or match["owner"] != owner[:8]:
        return None
    return Marked(match["launch"], match["part"], match["middle"])


def of_cluster(name: str, owner: str, cluster: str) -> Marked | None:
    """The marks of `name` if it is one of `cluster`'s resources (rebuilt exactly, so no prefix clash)."""
    marked = parse(name, owner)
    if marked is None or resource_name(owner, cluster, f"{marked.launch_id}-{marked.part}", limit=LIMIT) != name:
        return None
    return marked
