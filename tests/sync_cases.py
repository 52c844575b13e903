"""One workdir that exercises what a workdir sync must honour, for every runner's tests.

`.skyignore` wins over `.gitignore` (as in SkyPilot), patterns follow rsync's
exclude rules, and a symlinked directory arrives as the same link.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The files (and links) that must arrive, relative to the destination.
EXPECTED = [".gitignore", ".skyignore", "data-link", "data/keep.txt", "src/main.py", "src/nested/ok.txt"]


def make_workdir(root: Path, *, skyignore: bool = True) -> Path:
    for rel, text in {
        "src/main.py": "print()", "src/nested/ok.txt": "ok", "src/nested/skip.log": "log", "data/keep.txt": "k",
        "build/out.bin": "b", "secret.env": "s", "gitonly.tmp": "g",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    os.symlink("data", root / "data-link")
    (root / ".gitignore").write_text("*.tmp\n")
    if skyignore:
        (root / ".skyignore").write_text("# not synced\n*.log\n/build/\nsecret.env\n")
    return root


def listing(root: Path) -> list[str]:
    """Files and symlinks under `root` (links not followed)."""
    found = []
    for directory, dirs, files in os.walk(root):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(directory, d))]:
            found.append(os.path.relpath(os.path.join(directory, name), root))
    return sorted(found)
