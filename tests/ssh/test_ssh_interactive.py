"""`skyhop launch` without -y on an SSH pool, at a real terminal (the README's own SSH example)."""

from __future__ import annotations

from pty_terminal import Terminal
from test_ssh_cli import sky  # noqa: F401  (the fixture: a Sky runner next to the namespace hosts)


def test_launch_on_a_pool_asks_with_a_plan_line_then_runs(sky, ssh_hosts):
    host = ssh_hosts[0]
    sky("ssh", "add", "lab", host.ip, "--user", "root", "--identity-file", host.identity_file, check=True)
    term = Terminal(sky.env, sky.cwd, "launch", "-c", "tty", "--infra", "ssh/lab", "echo from-the-pool")
    term.expect("Launch?")
    assert "Cluster 'tty': 1x " in term.screen and "on ssh/lab" in term.screen
    term.type("y\n")
    assert term.finish() == 0
    assert "from-the-pool" in term.screen


def test_env_check_on_two_pool_hosts_sources_each_hosts_bashrc(sky, ssh_hosts):
    """SkyPilot's env_check: setup appends to ~/.bashrc on every node, run sees it (interactive bash)."""
    from pathlib import Path

    from e2e.test_e2e_skypilot_semantics import ENV_CHECK

    for host in ssh_hosts[1:3]:
        sky("ssh", "add", "pair", host.ip, "--user", "root", "--identity-file", host.identity_file, check=True)
    result = sky("launch", "-y", "-c", "envs", "--infra", "ssh/pair", sky.task("env_check.yaml", ENV_CHECK))
    assert result.code == 0, result.out + result.err
    for rank in (0, 1):
        assert f"rank={rank} test_var=from-bashrc task=set" in result.out
    assert all("TEST_VAR" in (Path(host.home) / ".bashrc").read_text() for host in ssh_hosts[1:3])
