"""Ctrl-C while a launch provisions cancels it: the provider removes what it made, nothing is left running.

At a real terminal, through the real CLI and server, on a catalog plugin cloud
whose launch hangs mid-provision (tests/providers/plugin_pkg, `hang`) until
the request is cancelled, as a cloud call waiting for machines does.
"""

from __future__ import annotations

import json
import time

from helpers import run_cli, subprocess_env
from pty_terminal import CTRL_C, Terminal


def test_ctrl_c_during_provisioning_removes_what_was_made(isolated_home, plugin_site):
    (isolated_home / ".skyhop").mkdir(exist_ok=True)
    (isolated_home / ".skyhop" / "catalogcloud.json").write_text(json.dumps({"shadeform": "hang"}))
    env = subprocess_env(isolated_home, PYTHONPATH=str(plugin_site))
    made = isolated_home / ".skyhop" / "catalogcloud" / "cc"
    try:
        term = Terminal(env, isolated_home, "launch", "-y", "-c", "cc", "--gpus", "H100:8", "--infra", "shadeform", "echo never-ran")
        term.expect("Provisioning")
        for _ in range(600):  # the provider has created the nodes and now waits
            if made.exists():
                break
            time.sleep(0.1)
        assert made.exists()
        term.type(CTRL_C)
        term.expect("Cancelling")
        code = term.finish()
        assert code != 0 and "Traceback" not in term.screen and "never-ran" not in term.screen
        assert "cancelled" in term.screen.lower()
        assert not made.exists(), "the provider removed the nodes it had made"
        status = run_cli(isolated_home, "status", "--output", "json", PYTHONPATH=str(plugin_site))
        assert json.loads(status.stdout) == []
    finally:
        run_cli(isolated_home, "down", "--all", "-y", PYTHONPATH=str(plugin_site))
        run_cli(isolated_home, "api", "stop")
