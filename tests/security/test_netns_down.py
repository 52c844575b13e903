"""`netns_hosts.py down` ends what `up` started and nothing else on the machine."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from e2e_support import wait_for
from helpers import REPO
from netns_hosts import missing_requirements

from skyhop_agent.proctree import pid_alive


def test_down_spares_processes_that_merely_mention_the_dir(tmp_path):
    problem = missing_requirements()
    if problem:
        pytest.skip(f"SSH test hosts unavailable: {problem}")
    farm = tmp_path / "farm"
    script = str(REPO / "tests" / "netns_hosts.py")
    up = subprocess.run([sys.executable, script, "up", "1", "--dir", str(farm)], capture_output=True, text=True, timeout=120)
    assert up.returncode == 0, up.stderr
    # Someone else's process whose command line happens to contain the farm's path.
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", str(farm / "id_ed25519")])
    try:
        sshds = [pid for pid, _ in json.loads((farm / "state.json").read_text())["processes"]]
        assert len(sshds) == 1 and pid_alive(sshds[0])
        down = subprocess.run([sys.executable, script, "down", "--dir", str(farm)], capture_output=True, text=True, timeout=120)
        assert down.returncode == 0, down.stderr
        assert bystander.poll() is None and pid_alive(bystander.pid), "down ended a process it did not start"
        wait_for(lambda: not pid_alive(sshds[0]), 20, "the sshd that up started to end")
    finally:
        bystander.kill()
        bystander.wait()
        subprocess.run([sys.executable, script, "down", "--dir", str(farm)], capture_output=True, timeout=120)
