"""Real SSH hosts (network namespaces + sshd) for the SSH tests; skipped with the reason when they cannot be made."""

from __future__ import annotations

import pytest
from netns_hosts import down, missing_requirements, up


@pytest.fixture(scope="module")
def ssh_hosts(tmp_path_factory):
    problem = missing_requirements()
    if problem:
        pytest.skip(f"SSH test hosts unavailable: {problem}")
    workdir = tmp_path_factory.mktemp("hosts")
    try:
        # Hosts 0-2 are ordinary; host 3 has no python3 (for the bad-input tests).
        yield up(4, workdir, without_python=(3,))
    finally:
        down(workdir)
