"""A process (the API server) builds a catalog once while its files stay the same, and again when one changes."""

from __future__ import annotations

import os
import shutil

from helpers import SHARED_CATALOG

from skyhop.catalog.load import load_catalog, shared_catalog


def test_a_catalog_is_built_once_while_its_files_are_unchanged(tmp_path, monkeypatch):
    root = tmp_path / "catalog"
    (root / "lambda").mkdir(parents=True)
    csv = root / "lambda" / "vms.csv"
    shutil.copy(SHARED_CATALOG / "lambda" / "vms.csv", csv)
    monkeypatch.setenv("SKYHOP_CATALOG_DIR", str(root))
    first = shared_catalog()
    assert shared_catalog() is first and shared_catalog(["lambda"]) is first
    assert load_catalog() is not first  # the plain load builds anew (the parsed cache's own tests rely on it)
    # Replaced by a file of the same size (a download): a new catalog.
    replacement = tmp_path / "new.csv"
    shutil.copy(csv, replacement)
    os.replace(replacement, csv)
    second = shared_catalog()
    assert second is not first and len(second) == len(first)
    # Edited in place: a new catalog with the edit.
    lines = csv.read_text().splitlines(keepends=True)
    csv.write_text("".join(lines[:-1]))
    assert len(shared_catalog()) < len(second)
