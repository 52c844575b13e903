"""Real SSH hosts (network namespaces + sshd) for the SSH tests; skipped with the reason when they cannot be made."""

from __future__ import annotations

import pytest
from netns_hosts import down, missing_requirements, up


def namespace_hosts(tmp_path_factory, count: int, without_python: tuple[int, ...] = ()):
    """Yield `count` fresh hosts, removed afterwards (for a fixture to `yield from`); skip when they cannot be made."""
    problem = missing_requirements()
    if problem:
        pytest.skip(f"SSH test hosts unavailable: {problem}")
    workdir = tmp_path_factory.mktemp("hosts")
    try:
        yield up(count, workdir, without_python=without_python)
    finally:
        down(workdir)


@pytest.fixture(scope="module")
def ssh_hosts(tmp_path_factory):
    # Hosts 0-2 are ordinary; host 3 has no python3 (for the bad-input tests).
    yield from namespace_hosts(tmp_path_factory, 4, without_python=(3,))
