"""Helpers for the security tests (a module name no other test directory uses)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence


@dataclass(frozen=True)
class SecondUser:
    name: str
    uid: int
    gid: int
    home: Path

    def run(self, argv: Sequence[str], **kwargs) -> subprocess.CompletedProcess[str]:
        """`argv` as this user, in its home, with a minimal environment of its own."""
        env = {"HOME": str(self.home), "USER": self.name, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        env.update(kwargs.pop("env", {}))
        kwargs.setdefault("timeout", 60)
        return subprocess.run(
            list(argv), user=self.uid, group=self.gid, extra_groups=[], cwd=self.home, env=env,
            capture_output=True, text=True, **kwargs,
        )


def open_to_others(path: Path) -> None:
    """Let other users traverse every directory above `path` (as a home opened with 0755 would be).

    pytest makes its temporary directories owner-only, which alone would keep a
    second user out and hide what skyhop's own permissions do.
    """
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & 0o001 == 0:
            parent.chmod(mode | 0o001)
