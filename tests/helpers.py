"""Helpers importable from any test (`pythonpath = tests` in pyproject)."""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[1]
SHARED_CATALOG = (REPO.parent / "shared" / "catalogs" / "v8").resolve()
# Real rows of SkyPilot's public v8 AWS catalog (too large for ../shared); SOURCE.md says where from.
AWS_CATALOG_FIXTURE = REPO / "tests" / "catalog" / "fixtures" / "aws"


def subprocess_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment for running the real `skyhop` CLI in a subprocess."""
    # SKYHOP_API_SERVER_COMMAND: the suite's server zygote (tests/zygote.py), set for the whole run.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYHOP_") or k == "SKYHOP_API_SERVER_COMMAND"}
    env.update(HOME=str(home), SKYHOP_HOME=str(home / ".skyhop"), SKYHOP_CATALOG_DIR=str(SHARED_CATALOG))
    env.update(extra)
    return env


def run_cli(home: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    """Run the real `skyhop` CLI in a process of its own (as a user would; forked by tests/zygote.py)."""
    import zygote

    return zygote.cli(list(args), subprocess_env(home, **extra_env))


def examples(thorough: int) -> int:
    """How many examples a hypothesis property draws: `thorough` with SKYHOP_TEST_THOROUGH=1, else a
    half of it (at least 25). The every-commit suite must stay within its time budget; the
    brute-force comparisons are still run on every shape their strategies draw, only fewer times,
    and a failure once found is replayed first from hypothesis's example database."""
    if os.environ.get("SKYHOP_TEST_THOROUGH") == "1":
        return thorough
    return max(25, thorough // 2)


@contextlib.contextmanager
def reachable_for_others(path: Path) -> Iterator[None]:
    """Within the block, other users may traverse every directory above `path`, so what guards `path` is its own
    mode alone (the test of a second Unix user then checks that mode, not a home's); the modes are put back after."""
    changed = []
    try:
        for parent in path.parents:
            mode = stat.S_IMODE(parent.stat().st_mode)
            if not mode & 0o001:
                parent.chmod(mode | 0o001)
                changed.append((parent, mode))
        yield
    finally:
        for parent, mode in reversed(changed):
            parent.chmod(mode)
