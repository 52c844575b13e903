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
