"""Put the task's workdir and file_mounts on every node (URL sources are fetched by the node).

The workdir lands in each node's `workdir` (jobs run there); a mount's
destination is a path on the node, with `~/` meaning the node's home (for
local nodes, the node directory, so clusters do not write into the real home).
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

from skyhop.errors import SkyhopError
from skyhop.execution.progress import Progress
from skyhop.execution.url_mounts import check_url_mount, fetch, scheme_of
from skyhop.parallel import each
from skyhop.providers import registry
from skyhop.providers.base import ClusterInfo, NodeInfo, capabilities_of
from skyhop.spec.task import Task


def node_path(node: NodeInfo, dest: str, *, own_filesystem: bool = True) -> str:
    """Where a mount's destination is on `node`; one that would leave the node's home is refused.

    The spec refuses such destinations already; this is where the path is
    actually resolved, so it is checked again for tasks built any other way.
    An absolute destination is the machine's own path, unless the node has no
    filesystem of its own (`Capabilities.own_filesystem`: a local node is a
    directory here), where only paths inside the node are allowed.
    """
    home = node.home or "~"
    if dest.startswith("/"):
        if not own_filesystem and not _inside(posixpath.normpath(dest), node.base):
            raise SkyhopError(
                f"file_mounts.{dest}: this cluster's nodes are directories on this machine ({node.base}), not machines "
                f"of their own, so an absolute destination would write into this machine's own {dest} and stay there after "
                f"`skyhop down`. Write a path in the node's home instead, e.g. ~/{dest.strip('/')} (jobs get the node "
                "directory as HOME), or run the task where nodes are machines (an SSH pool, a cloud)."
            )
        return _not_node_state(dest, node.base)
    relative = dest[2:] if dest.startswith("~/") else "" if dest == "~" else dest
    if not _inside(posixpath.normpath(posixpath.join(home, relative)), home):
        raise SkyhopError(f"file_mounts.{dest}: the destination leaves the node's home directory ({home}); refusing to write outside it.")
    path = f"{home}/{relative}" if relative else home
    return _not_node_state(path, node.base, dest) if home.startswith("/") else path


def _not_node_state(path: str, base: str, dest: str | None = None) -> str:
    """`path`, unless a mount there would overwrite what skyhop keeps on the node (`Layout.RESERVED`).

    On a local node the jobs' HOME is the node's base directory, beside the
    job table and the agent: `~/jobs.db` or `~` itself would clobber them
    (the launch then failed with "file is not a database").
    """
    from skyhop_agent.paths import Layout

    normal = posixpath.normpath(path)
    if _inside(posixpath.normpath(base), normal) or any(_inside(normal, posixpath.join(base, name)) for name in Layout.RESERVED):
        raise SkyhopError(
            f"file_mounts.{dest or path}: that is where skyhop keeps this node's own state ({base}: the agent, the job "
            f"table, logs); a mount there would overwrite it. Choose another destination, e.g. ~/data."
        )
    return path


def _inside(path: str, root: str) -> bool:
    root = posixpath.normpath(root)
    return path == root or path.startswith(root.rstrip("/") + "/")


def check_sources(task: Task) -> None:
    """Fail before any machine is created when a local source is missing."""
    if isinstance(task.workdir, str) and not Path(task.workdir).expanduser().is_dir():
        raise SkyhopError(f"workdir: {task.workdir} is not a directory on this machine.")
    if isinstance(task.workdir, dict):
        raise SkyhopError("workdir: git workdirs are not supported yet; use a local directory.")
    for dest, mount in task.file_mounts.items():
        source = mount.source
        if source is None:
            raise SkyhopError(f"file_mounts.{dest}: creating buckets (a mount with only a name) is not supported yet; give a source path or URL.")
        if scheme_of(source) is not None:
            check_url_mount(f"file_mounts.{dest}", source, mount.mode)
            continue
        if not Path(source).expanduser().exists():
            raise SkyhopError(f"file_mounts.{dest}: {source} does not exist on this machine.")


def sync_task_files(task: Task, info: ClusterInfo, progress: Progress) -> None:
    if task.workdir is None and not task.file_mounts:
        return
    provider = registry.get(info.provider)
    own_filesystem = capabilities_of(provider).own_filesystem
    # Every destination is resolved (and refused) before anything is copied to any node.
    targets = {node.rank: {dest: node_path(node, dest, own_filesystem=own_filesystem) for dest in task.file_mounts} for node in info.nodes}
    progress.phase("syncing")

    def to_node(node: NodeInfo) -> None:
        runner = provider.runner(info, node)
        if isinstance(task.workdir, str):
            _copy(runner, task.workdir, node.workdir, "workdir", delete=True, exclude_from=ignore_file(task.workdir))
        for dest, mount in task.file_mounts.items():
            assert mount.source is not None  # check_sources ran first
            target = targets[node.rank][dest]
            if scheme_of(mount.source) is not None:
                fetch(runner, f"file_mounts.{dest}", mount.source, target, f"node {node.rank} ({node.ip})", node.base)
            else:
                _copy(runner, mount.source, target, f"file_mounts.{dest}")

    each(info.nodes, to_node)


def ignore_file(workdir: str) -> str | None:
    """What the workdir sync leaves out, as SkyPilot: `.skyignore`, else `.gitignore`, else nothing more."""
    root = Path(workdir).expanduser()
    for name in (".skyignore", ".gitignore"):
        if (root / name).is_file():
            return str(root / name)
    return None


def _copy(runner, source: str, dest: str, field: str, *, delete: bool = False, exclude_from: str | None = None) -> None:
    try:
        runner.sync_up(os.path.abspath(os.path.expanduser(source)), dest, delete=delete, exclude_from=exclude_from)
    except OSError as error:
        raise SkyhopError(f"{field}: copying {source} to {dest} on the node failed: {error.strerror or error}.") from None
