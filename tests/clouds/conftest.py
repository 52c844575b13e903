"""Fixtures of the cloud provider tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_support import configure_aws


@pytest.fixture
def aws_home(isolated_home: Path, aws_catalog: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SKYHOP_CATALOG_DIR", str(aws_catalog))
    configure_aws(isolated_home)
    return isolated_home
