"""Every file skyhop writes under SKYHOP_HOME is the owner's alone (0600 files, 0700 directories).

A 0700 SKYHOP_HOME protects them today, but the state DB, its WAL, request logs
and node files hold secret values: they must not depend on one directory's mode.
"""

from __future__ import annotations

import stat

import pytest


@pytest.mark.fresh_home  # every file, the state database included, as skyhop itself creates it
def test_nothing_under_skyhop_home_is_readable_by_others_after_a_launch(sky):
    sky("launch", "-y", "-c", "modes", "--secret", "TOK=abc123", "echo hi", check=True)
    loose = []
    for path in [sky.skyhop_home, *sky.skyhop_home.rglob("*")]:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode) or stat.S_ISSOCK(info.st_mode):
            continue
        public = "agent/skyhop_agent" in str(path) or (path.name.endswith(".lock") and info.st_size == 0)  # skyhop's own code, empty locks
        if info.st_mode & 0o077 and not public:
            loose.append(f"{oct(info.st_mode & 0o777)} {path.relative_to(sky.skyhop_home)}")
    assert loose == []
