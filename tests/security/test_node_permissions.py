"""Another user of a node cannot read skyhop's files there: job table (secret values), its WAL, logs.

On SSH hosts the pool's `base_dir` is a directory other users can traverse
(as `/data/skyhop` would be); locally the test opens SKYHOP_HOME's parents,
as a home directory with mode 0755 is. skyhop's own directories must still
keep the second user out.
"""

from __future__ import annotations

import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from e2e_support import Sky
from security_support import open_to_others
from ssh.conftest import ssh_hosts  # noqa: F401  (the namespace SSH hosts fixture)

SECRET = "hunter2-nodes"
TASK = f"""
num_nodes: {{nodes}}
secrets:
  API_TOKEN: {SECRET}
run: echo "rank $SKYPILOT_NODE_RANK has token $API_TOKEN" > made-by-job.txt; cat made-by-job.txt
"""


def assert_unreadable_by(user, cluster_dirs: list[Path]) -> None:
    """`user` can neither list nor read anything of the cluster, and nothing readable holds the secret."""
    head = cluster_dirs[0]
    for path in (head / "jobs.db", head / "jobs.db-wal", head / "jobs" / "1" / "run.log", head / "cluster.json"):
        assert path.exists(), path
        done = user.run(["cat", str(path)])
        assert done.returncode != 0 and "Permission denied" in done.stderr, f"{user.name} read {path}"
    for directory in cluster_dirs:
        assert user.run(["ls", str(directory)]).returncode != 0, f"{user.name} listed {directory}"
        found = user.run(["grep", "-rl", SECRET, str(directory)])
        assert found.stdout == "", f"{user.name} found the secret in {found.stdout}"


def assert_owner_only(cluster_dirs: list[Path]) -> None:
    for directory in cluster_dirs:
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    head = cluster_dirs[0]
    for path in [head / "jobs.db", head / "jobs.db-wal", head / "jobs", *(head / "jobs").rglob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, f"{path} is {oct(path.stat().st_mode)}"


def test_local_cluster_files_are_owner_only(sky, second_user):
    task = sky.task("secret.yaml", TASK.format(nodes=2))
    result = sky("launch", "-y", "-c", "perm", task, check=True)
    assert "has token" in result.out
    nodes = [sky.node_dir("perm", rank) for rank in (0, 1)]
    assert_owner_only(nodes)
    assert stat.S_IMODE(nodes[0].parent.stat().st_mode) == 0o700
    open_to_others(nodes[0].parent.parent)  # SKYHOP_HOME/clusters and everything above it
    assert_unreadable_by(second_user, nodes)


@pytest.fixture
def traversable_base() -> Path:
    """A pool `base_dir` on a shared filesystem that every user can traverse, like /data/skyhop."""
    base = Path(tempfile.mkdtemp(prefix="skyhop-pool-", dir="/tmp"))
    base.chmod(0o755)
    yield base
    subprocess.run(["rm", "-rf", str(base)])


def test_ssh_node_files_are_owner_only(ssh_hosts, isolated_home, tmp_path, traversable_base, second_user):  # noqa: F811
    head, worker = ssh_hosts[0], ssh_hosts[1]
    work = tmp_path / "work"
    work.mkdir()
    sky = Sky(isolated_home, work)
    sky.skyhop_home.mkdir(exist_ok=True)
    (sky.skyhop_home / "config.yaml").write_text(f"""ssh_node_pools:
  shared:
    cpus: 2
    memory_gib: 4
    user: {head.user}
    identity_file: {head.identity_file}
    hosts:
      - {{ip: {head.ip}, base_dir: {traversable_base / 'h0'}}}
      - {{ip: {worker.ip}, base_dir: {traversable_base / 'h1'}}}
""")
    try:
        result = sky("launch", "-y", "-c", "sec", sky.task("secret.yaml", TASK.format(nodes=2)), check=True)
        assert "rank 1 has token" in result.out
        dirs = [traversable_base / "h0" / "sec", traversable_base / "h1" / "sec"]
        assert_owner_only(dirs)
        made = dirs[1] / "made-by-job.txt"  # what the job itself wrote on the worker (umask 077 there too)
        assert stat.S_IMODE(made.stat().st_mode) == 0o600, oct(made.stat().st_mode)
        assert_unreadable_by(second_user, dirs)
    finally:
        sky("down", "--all", "-y")
        subprocess.run([sys.executable, "-m", "skyhop.cli.main", "api", "stop"], env=sky.env, capture_output=True, timeout=60)
