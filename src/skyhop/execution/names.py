"""Cluster names: validated once, used as directory names, tags and DB keys."""

from __future__ import annotations

import re
import secrets

from skyhop.errors import SkyhopError

_VALID = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")


def check_cluster_name(name: str) -> str:
    if not isinstance(name, str) or not _VALID.fullmatch(name):
        raise SkyhopError(
            f"Invalid cluster name {name!r}: use lowercase letters, digits and '-', starting with a letter, "
            "not ending with '-', at most 63 characters (e.g. 'train-1')."
        )
    return name


def new_cluster_name() -> str:
    return f"skyhop-{secrets.token_hex(2)}"
