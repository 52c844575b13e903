"""How commands reach a node and files get onto it.

Orchestration talks to every node through a `CommandRunner`; the local
provider runs plain subprocesses, the SSH provider (later) wraps the same
calls in ssh/rsync. Commands are argv lists, never shell strings, so user
text is never re-parsed by a shell on the way.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Protocol, Sequence, runtime_checkable


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

    def sync_up(self, source: str, dest: str, *, delete: bool = False, exclude_from: str | None = None, bytecode: bool = False) -> None:
        """Copy a local file or directory tree to `dest` on the node.

        `exclude_from` names a file of patterns (rsync `--exclude-from`, the
        gitignore subset SkyPilot relies on) whose matches are neither copied
        nor, with `delete`, removed on the node. `__pycache__` travels only with
        `bytecode` (skyhop's own agent: its compiled modules are used by a node
        whose Python is the same version, and ignored by any other).
        """


@runtime_checkable
class SocketForwarding(Protocol):
    """A runner that can reach a Unix socket on its node (the agent daemon's channel).

    Optional: a runner without it gets process-per-call agent verbs.
    """

    def forward_socket(self, remote_path: str, *, renew: bool = False) -> str:
        """A local socket path whose connections reach `remote_path` on the node.

        `renew`: the last path did not answer (a restarted SSH connection); set it up again.
        """

    def close_forward(self, remote_path: str) -> None:
        """Drop what `forward_socket` set up (the cluster is gone)."""


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

    def forward_socket(self, remote_path: str, *, renew: bool = False) -> str:
        """The node is this machine: its socket is reached where it is."""
        return remote_path

    def close_forward(self, remote_path: str) -> None:
        pass

    def sync_up(self, source: str, dest: str, *, delete: bool = False, exclude_from: str | None = None, bytecode: bool = False) -> None:
        """Copy in place: running jobs keep their working directory (never removed and re-created)."""
        src, dst = Path(source), Path(dest)
        if src.is_dir():
            ignored = _Excludes(read_patterns(exclude_from) if exclude_from else [], bytecode=bytecode)
            _clear_links(src, dst)
            shutil.copytree(src, dst, dirs_exist_ok=True, symlinks=True, ignore=ignored.for_tree(src))
            if delete:
                _prune(src, dst, ignored.for_tree(dst))
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)


ALWAYS_EXCLUDED = ("__pycache__", ".git")


def read_patterns(path: str) -> list[str]:
    """Exclude patterns, one a line; blank lines and `#` comments skipped (negations are not supported)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = [line.strip() for line in f]
    return [line for line in lines if line and not line.startswith(("#", "!"))]


class _Excludes:
    """rsync's exclude rules for the patterns we use: no slash matches a name at any depth,
    a leading slash (or one inside) anchors to the top, a trailing slash matches directories only."""

    def __init__(self, patterns: list[str], bytecode: bool = False) -> None:
        self.patterns = [p for p in ALWAYS_EXCLUDED if not (bytecode and p == "__pycache__")] + patterns

    def matches(self, rel: str, is_dir: bool) -> bool:
        name = rel.rsplit("/", 1)[-1]
        for pattern in self.patterns:
            dir_only = pattern.endswith("/")
            pattern = pattern.rstrip("/")
            if dir_only and not is_dir:
                continue
            anchored = "/" in pattern
            if fnmatch.fnmatchcase(rel if anchored else name, pattern.lstrip("/") if anchored else pattern):
                return True
        return False

    def for_tree(self, root: Path):
        """A `shutil.copytree` ignore function for the tree at `root`."""

        def ignore(directory: str, names: list[str]) -> set[str]:
            rel_dir = os.path.relpath(directory, root)
            prefix = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
            return {n for n in names if self.matches(prefix + n, os.path.isdir(os.path.join(directory, n)))}

        return ignore


def _clear_links(src: Path, dst: Path) -> None:
    """Remove what stands where the source has a symlink: copytree re-creates links and cannot overwrite one."""
    for root, dirs, files in os.walk(src):
        rel = Path(root).relative_to(src)
        for name in dirs + files:
            if os.path.islink(os.path.join(root, name)):
                target = dst / rel / name
                if target.is_symlink() or target.exists():
                    _remove(target)


def _prune(src: Path, dst: Path, ignore) -> None:
    """Remove what is in `dst` but not in `src` (rsync --delete), leaving excluded names alone."""
    for root, dirs, files in os.walk(dst, topdown=True):
        rel = Path(root).relative_to(dst)
        kept = ignore(root, dirs + files)
        for name in [d for d in dirs if d not in kept]:
            there, here = src / rel / name, Path(root) / name
            # A symlinked directory stays when the source has the same link (os.walk lists it among dirs).
            if not there.is_dir() or there.is_symlink() != here.is_symlink():
                _remove(here)
                dirs.remove(name)
        for name in files:
            if name not in kept and not (src / rel / name).exists() and not (src / rel / name).is_symlink():
                (Path(root) / name).unlink(missing_ok=True)


def _remove(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)
