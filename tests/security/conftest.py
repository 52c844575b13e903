"""A real second Unix user, for tests of what another local user can (not) reach.

`second_user` creates a fresh account with `useradd` and removes it after the
test; it skips, saying why, where that is impossible (not root, no useradd).
Commands run as that user through `SecondUser.run`: a plain fork with the
user's uid and gid and no supplementary groups, so nothing of root's leaks in.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest
from e2e.conftest import sky  # noqa: F401  (the e2e CLI runner, for the API-level tests here)
from security_support import SecondUser


def _retry(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """useradd/userdel lock /etc/passwd; parallel tests may hold it for a moment."""
    for _ in range(50):
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode == 0 or "lock" not in done.stderr.lower():
            return done
        time.sleep(0.1)
    return done


@pytest.fixture
def second_user() -> Iterator[SecondUser]:
    if os.geteuid() != 0:
        pytest.skip("second_user needs root to create a Unix user (useradd); CI runs as root")
    if not shutil.which("useradd") or not shutil.which("userdel"):
        pytest.skip("second_user needs useradd/userdel (package passwd)")
    name = f"skyo{secrets.token_hex(4)}"
    home = Path(tempfile.mkdtemp(prefix=f"{name}-home-", dir="/tmp"))
    done = _retry(["useradd", "--no-create-home", "--home-dir", str(home), "--shell", "/bin/sh", "--user-group", name])
    if done.returncode != 0:
        pytest.skip(f"useradd failed: {done.stderr.strip()}")
    entry = pwd.getpwnam(name)
    os.chown(home, entry.pw_uid, entry.pw_gid)
    try:
        yield SecondUser(name, entry.pw_uid, entry.pw_gid, home)
    finally:
        _retry(["userdel", name])
        shutil.rmtree(home, ignore_errors=True)
