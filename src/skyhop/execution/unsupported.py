"""Refuse, at launch, what a task file may say but skyhop does not run yet.

Task files parse with SkyPilot's semantics even when they use features that
arrive with later work (buckets, volumes, worker pools, ...);
the refusal happens here, before any machine is created, with one message
that names the field and says "not supported yet". Nothing here refuses a
task that is invalid: that is the parser's job, at load time. Resource
fields some provider honours (ports, image_id, disk_size, disk_tier,
network_tier) are not refused here: they depend on the provider, so planning
keeps such a task on providers that declare them (`Capabilities.features`,
`optimizer/gating.py`) and says "not supported yet on <provider>" when none
is left.
"""

from __future__ import annotations

from collections.abc import Iterator

from skyhop.errors import SkyhopError
from skyhop.spec.task import Task


class NotSupportedYet(SkyhopError):
    """A valid task asks for a feature that skyhop does not run yet."""


def check_supported(task: Task, *, hosted: str | None = None) -> None:
    """Raise `NotSupportedYet` for the first feature of `task` skyhop cannot run yet.

    `hosted`: what the task is for when the server launches it again and again on its own ("services",
    "pools"): such replicas and workers do not get API access yet (their tokens would need the
    controller's own lifecycle), so it is refused when the service or pool is made, not in a launch loop.
    """
    for problem in _task_problems(task, hosted):
        raise NotSupportedYet(problem)


def _task_problems(task: Task, hosted: str | None) -> Iterator[str]:
    if task.pool is not None:
        yield "pool: a pool file is not launched: create the pool with `skyhop jobs pool apply -p NAME FILE`, then run jobs on it with `skyhop jobs launch --pool NAME`."
    if task.api_server_access and hosted is not None:
        yield f"api_server_access: giving jobs access to the API server is not supported for {hosted} yet; remove it or set it to false."
    if task.volumes:
        path = next(iter(task.volumes))
        yield f"volumes.{path}: mounting volumes is not supported yet; use file_mounts for the data instead."
    for dest, mount in task.file_mounts.items():
        if mount.name == "" and mount.source is None and not mount.sources:
            yield f"file_mounts.{dest}: the bucket name is empty; give 'name' (or set the env variable it refers to)."
        if mount.store is not None and mount.store.startswith("$"):
            yield f"file_mounts.{dest}.store: {mount.store} was never filled in; pass it with --env."
        if mount.sources:
            yield f"file_mounts.{dest}.source: uploading a list of local paths into a bucket is not supported yet; mount each path separately."
