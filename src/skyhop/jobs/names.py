"""Names a managed job gives what it creates: its clusters and its SKYPILOT_TASK_ID."""

from __future__ import annotations

import re

_NOT_ALLOWED = re.compile(r"[^a-z0-9-]+")


def cluster_name(job_name: str | None, job_id: int, task_index: int, num_tasks: int) -> str:
    """`<name>-<id>` (plus `-<task>` in a pipeline): a valid cluster name whatever the job's name is.

    The same name for every attempt of a task: at most one exists at a time
    (the previous attempt's is torn down first), and a restarted controller finds it.
    """
    base = _NOT_ALLOWED.sub("-", (job_name or "").lower()).strip("-")
    if not base or not base[0].isalpha():
        base = f"job-{base}" if base else "job"
    suffix = f"-{job_id}" + (f"-{task_index}" if num_tasks > 1 else "")
    return base[: 63 - len(suffix)].rstrip("-") + suffix


def task_id(job_id: int, task_index: int, num_tasks: int) -> str:
    """SKYPILOT_TASK_ID of the job's task: the same across recoveries (checkpoints are keyed by it)."""
    return f"skyhop-managed-{job_id}" + (f"-{task_index}" if num_tasks > 1 else "")
