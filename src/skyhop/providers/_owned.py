"""Ownership marks: how a cloud resource says it is this skyhop installation's, and for which cluster.

Every resource a cloud provider creates (instance, disk, security group or
firewall rule, key pair, placement group) carries the four marks below as
tags or labels. `find` after a crash and the orphan listing select by them,
so they never take another installation's clusters on the same account for
their own: the owner id is random per `SKYHOP_HOME`, made once and kept
there. Clouds without tags (or resources without them: GCP firewall rules,
Lambda SSH keys) pack the same facts into the name (`resource_name`).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets

from skyhop import paths

CLUSTER = "skyhop-cluster"
USER = "skyhop-user"
LAUNCH = "skyhop-launch"
OWNER = "skyhop-owner"

_OWNER_FILE = "owner-id"
_ID = re.compile(r"[0-9a-f]{16}")


def owner_id() -> str:
    """This installation's owner id (16 hex digits), created on first use in SKYHOP_HOME (0600).

    Written to a private temporary file and linked into place, so the file
    never exists without its id: launches starting at once on a new home all
    read the one id that won the link (an O_EXCL create, then a write, let the
    others read an empty file in between).
    """
    path = paths.home() / _OWNER_FILE
    if not path.exists():
        paths.private_dir(paths.home())
        tmp = path.with_name(f".{_OWNER_FILE}.{secrets.token_hex(8)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(8) + "\n")
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process linked its id first: that one is the id
        finally:
            tmp.unlink()
    value = path.read_text().strip()
    if not _ID.fullmatch(value):
        from skyhop.errors import SkyhopError

        raise SkyhopError(f"{path} does not hold a skyhop owner id (16 hex digits); restore it, or remove it only if no cloud resources of this installation remain.")
    return value


def new_launch_id() -> str:
    """A fresh id for one launch: the mark that finds what that launch created, even before its record says where."""
    return secrets.token_hex(6)


def marks(cluster: str, user: str, launch_id: str, owner: str) -> dict[str, str]:
    """The four tags every resource of a launch carries."""
    return {CLUSTER: cluster, USER: user, LAUNCH: launch_id, OWNER: owner}


def resource_name(owner: str, cluster: str, suffix: str = "", *, limit: int = 63) -> str:
    """`skyhop-<owner8>-<cluster>[-<suffix>]`, lowercase, at most `limit` characters.

    GCP names allow 63 lowercase characters; cluster names allow 63 too, so a
    long one is cut and a short digest of the whole keeps two long names apart.
    """
    tail = f"-{suffix}" if suffix else ""
    name = f"skyhop-{owner[:8]}-{cluster}{tail}".lower()
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    keep = limit - len(f"skyhop-{owner[:8]}--{digest}{tail}")
    return f"skyhop-{owner[:8]}-{cluster[:keep].rstrip('-')}-{digest}{tail}".lower()



def may_name(named: str, cluster: str) -> bool:
    """Whether a cluster name read back from a resource name (`named`) may stand for `cluster`.

    A long cluster name is cut in resource names (`resource_name`: the kept
    part, a dash and an 8-digit digest), so what a provider reads back is not
    the cluster's name. It may stand for every cluster that starts with the
    kept part: deciding that a resource belongs to no cluster must err toward
    "it may be this one's" (a running cluster's machines are never orphans).
    """
    if named == cluster:
        return True
    kept, dash, digest = named.rpartition("-")
    return bool(dash and kept) and len(digest) == 8 and all(c in "0123456789abcdef" for c in digest) and cluster.startswith(kept) and len(cluster) > len(kept)
