"""`start -r/--retry-until-up` against a real SSH pool: while another cluster holds the
pool's only host, the start waits and retries in the API server, and comes up once
the host is free."""

from __future__ import annotations

import pytest
from test_ssh_cli import sky  # noqa: F401  (the fixture: a Sky runner next to the namespace hosts)


@pytest.mark.slow
def test_start_retries_until_the_host_is_free(sky, ssh_hosts):
    host = ssh_hosts[0]
    sky("ssh", "add", "solo", host.ip, "--user", "root", "--identity-file", host.identity_file, check=True)
    sky("launch", "-y", "-c", "first", "--infra", "ssh/solo", "echo first", check=True)
    sky("stop", "-y", "first", check=True)
    sky("launch", "-y", "-c", "second", "--infra", "ssh/solo", "echo second", check=True)

    busy = sky("start", "first")
    assert busy.code != 0 and "its hosts are in use" in busy.err  # without -r: one try

    waiting = sky.popen("start", "first", "-r")
    assert waiting.stderr is not None
    seen = []
    for line in waiting.stderr:
        seen.append(line)
        if "Retrying in" in line:
            break
    assert any("--retry-until-up" in line for line in seen), seen
    sky("down", "-y", "second", check=True)
    out, err = waiting.communicate(timeout=180)
    assert waiting.returncode == 0, err
    assert "Cluster 'first' is up." in out
    assert "first-again" in sky("exec", "first", "echo first-again", check=True).out
