"""How commands reach a node and files get onto it.

Orchestration talks to every node through a `CommandRunner`; the local
provider runs plain subprocesses, the SSH provider (later) wraps the same
calls in ssh/rsync. Commands are argv lists, never shell strings, so user
text is never re-parsed by a shell on the way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Protocol, Sequence


@dataclass(frozen=True)
class RunResult:
    returncode: int
    stdout: str
    stderr: str


class CommandRunner(Protocol):
    def run(self, argv: Sequence[str], *, input: str | None = None, timeout: float | None = None) -> RunResult:
        """Run to completion and capture output."""

    def popen(self, argv: Sequence[str]) -> "subprocess.Popen[bytes]":
        """Start a command whose stdout is read as it comes (log streaming); stderr is a separate pipe."""

    def sync_up(self, source: str, dest: str, *, delete: bool = False) -> None:
        """Copy a local file or directory tree to `dest` on the node."""


@dataclass(frozen=True)
class LocalRunner:
    """Runs on this machine. `env` is added to every process it starts."""

    env: Mapping[str, str] = field(default_factory=dict)

    def _env(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def run(self, argv: Sequence[str], *, input: str | None = None, timeout: float | None = None) -> RunResult:
        done = subprocess.run(
            list(argv), input=input, capture_output=True, text=True, env=self._env(), timeout=timeout, stdin=None if input is not None else subprocess.DEVNULL
        )
        return RunResult(done.returncode, done.stdout, done.stderr)

    def popen(self, argv: Sequence[str]) -> "subprocess.Popen[bytes]":
        return subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self._env())

    def sync_up(self, source: str, dest: str, *, delete: bool = False) -> None:
        """Copy in place: running jobs keep their working directory (never removed and re-created)."""
        src, dst = Path(source), Path(dest)
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True, symlinks=True, ignore=_IGNORED)
            if delete:
                _prune(src, dst)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)


_IGNORED = shutil.ignore_patterns("__pycache__", ".git")


def _prune(src: Path, dst: Path) -> None:
    """Remove what is in `dst` but not in `src` (rsync --delete), leaving ignored names alone."""
    for root, dirs, files in os.walk(dst, topdown=True):
        rel = Path(root).relative_to(dst)
        kept = set(_IGNORED(root, dirs + files))
        for name in [d for d in dirs if d not in kept]:
            if not (src / rel / name).is_dir() or (src / rel / name).is_symlink():
                _remove(Path(root) / name)
                dirs.remove(name)
        for name in files:
            if name not in kept and not (src / rel / name).exists() and not (src / rel / name).is_symlink():
                (Path(root) / name).unlink(missing_ok=True)


def _remove(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)
