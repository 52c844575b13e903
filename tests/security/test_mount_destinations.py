"""A file_mounts destination cannot climb out of the node with `..` (on the local provider: out of the cluster's directory)."""

from __future__ import annotations

import pytest

from skyhop.errors import SkyhopError
from skyhop.execution.sync import node_path
from skyhop.providers.base import NodeInfo
from skyhop.spec.errors import SpecError
from skyhop.spec.task import Task

ESCAPES = ["../../../x", "~/../x", "a/../../x", "..", "~/..", "./../x"]


@pytest.mark.parametrize("dest", ESCAPES)
def test_spec_refuses_destinations_that_leave_the_home(dest):
    with pytest.raises(SpecError, match=r"field 'file_mounts\..*climbs out of the home directory"):
        Task.from_dict({"run": "true", "file_mounts": {dest: "/etc/hostname"}})
    with pytest.raises(SpecError, match="climbs out"):
        Task(run="true", file_mounts={dest: "/etc/hostname"})  # the SDK's way in


@pytest.mark.parametrize("dest", ["~/a/../b", "data", "~", "~/x/..", "/abs/../elsewhere", "/data"])
def test_destinations_inside_the_home_or_absolute_are_kept(dest):
    assert dest in Task.from_dict({"run": "true", "file_mounts": {dest: "/etc/hostname"}}).file_mounts


@pytest.mark.parametrize("dest", ESCAPES)
def test_where_the_path_is_resolved_it_is_checked_again(dest, tmp_path):
    node = NodeInfo(0, "127.0.0.1", str(tmp_path / "node-0"), home=str(tmp_path / "node-0"))
    with pytest.raises(SkyhopError, match="leaves the node's home directory"):
        node_path(node, dest)
    assert node_path(node, "~/a/../b") == f"{tmp_path / 'node-0'}/a/../b"


def test_local_launch_writes_nothing_outside_the_cluster(sky):
    source = sky.cwd / "payload.txt"
    source.write_text("escaped\n")
    task = sky.task("escape.yaml", f"file_mounts:\n  ../../../x: {source}\nrun: echo ran\n")
    result = sky("launch", "-y", "-c", "esc", task)
    assert result.code != 0 and "file_mounts.../../../x" in result.err and "climbs out" in result.err
    assert "ran" not in result.out
    escaped = sky.skyhop_home / "x"  # node-0/../../../x on the local provider
    assert not escaped.exists() and not list(sky.home.rglob("x"))


def test_an_absolute_destination_is_the_node_machines_own_path_only_where_nodes_are_machines(tmp_path):
    node = NodeInfo(0, "127.0.0.1", str(tmp_path / "node-0"), home=str(tmp_path / "node-0"))
    assert node_path(node, "/data") == "/data"  # a VM or pool host: its own /data
    with pytest.raises(SkyhopError, match=r"would write into this machine's own /data and stay there after `skyhop down`.*~/data"):
        node_path(node, "/data", own_filesystem=False)
    with pytest.raises(SkyhopError, match=r"own \S*/node-0/\.\./elsewhere and stay there"):
        node_path(node, f"{tmp_path}/node-0/../elsewhere", own_filesystem=False)
    inside = f"{tmp_path}/node-0/data"  # inside the node's directory: nothing outlives `down`
    assert node_path(node, inside, own_filesystem=False) == inside


def test_local_launch_refuses_an_absolute_destination_and_writes_nothing_there(sky, tmp_path):
    source = sky.cwd / "payload.txt"
    source.write_text("escaped\n")
    outside = tmp_path / "outside" / "data"  # stands for /data: an absolute path outside the node
    task = sky.task("abs.yaml", f"file_mounts:\n  {outside}: {source}\nrun: echo ran\n")
    result = sky("launch", "-y", "-c", "abs", task)
    assert result.code != 0 and "Traceback" not in result.err
    assert f"file_mounts.{outside}: this cluster's nodes are directories on this machine" in result.err
    assert f"would write into this machine's own {outside} and stay there after `skyhop down`" in result.err
    assert f"e.g. ~/{str(outside).strip('/')}" in result.err
    assert "ran" not in result.out
    assert not (tmp_path / "outside").exists()
    assert "abs" not in sky.clusters()
    # What the message recommends works, and lands inside the node.
    fixed = sky.task("home.yaml", f"file_mounts:\n  ~/data: {source}\nrun: cat ~/data\n")
    assert "escaped" in sky("launch", "-y", "-c", "abs", fixed, check=True).out
    assert (sky.skyhop_home / "clusters" / "abs" / "node-0" / "data").read_text() == "escaped\n"


@pytest.mark.parametrize("dest", ["~", "~/jobs.db", "~/agent", "~/agent/skyhop_agent/cli.py", "~/jobs/1/run.log", "~/cluster.json", "~/x/../daemon.pid"])
def test_a_destination_on_the_nodes_own_state_is_refused(dest, tmp_path):
    """On local the jobs' HOME is the node's base directory, beside the job table and the agent."""
    base = str(tmp_path / "node-0")
    node = NodeInfo(0, "127.0.0.1", base, home=base)
    with pytest.raises(SkyhopError, match=r"where skyhop keeps this node's own state"):
        node_path(node, dest, own_filesystem=False)
    with pytest.raises(SkyhopError, match=r"own state"):  # a machine whose base sits in the home: the same
        node_path(NodeInfo(0, "10.0.0.2", "/home/u/.sky/c1", home="/home/u"), dest.replace("~", "/home/u/.sky/c1", 1))
    assert node_path(node, "~/jobsdata") == f"{base}/jobsdata"


def test_local_launch_refuses_a_mount_onto_the_job_table(sky):
    (sky.cwd / "x").write_text("not a database\n")
    task = sky.task("clobber.yaml", f"file_mounts:\n  ~/jobs.db: {sky.cwd / 'x'}\nrun: echo ran\n")
    result = sky("launch", "-y", "-c", "clobber", task)
    assert result.code != 0 and "own state" in result.err and "Traceback" not in result.err
    assert "ran" not in result.out and "clobber" not in sky.clusters()
