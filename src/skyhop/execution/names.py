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


#: A job name is shown in tables and stored on the node: one printable line, bounded.
MAX_JOB_NAME = 255  # the state store keeps names in String(255) columns


def check_job_name(name: str | None) -> str | None:
    """A task's `name` where it becomes a job's name (the queue, logs, the node's job table).

    Parsing accepts any string (SkyPilot files must load), so the check sits where the
    name is used: a newline or an escape sequence would forge lines of `skyhop queue`.
    """
    if name is None:
        return None
    if len(name) > MAX_JOB_NAME or not name.strip() or not name.isprintable():
        raise SkyhopError(
            f"Invalid task name {name[:80]!r}: a task's name becomes its job's name, which must be one line of "
            f"printable characters, at most {MAX_JOB_NAME} long (e.g. 'train-llama')."
        )
    return name


def new_cluster_name() -> str:
    return f"skyhop-{secrets.token_hex(2)}"
