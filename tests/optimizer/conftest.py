"""Fixtures for the optimizer tests: the raw catalog, and the CLI run in-process."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

import pytest
from helpers import SHARED_CATALOG
from rawcsv import RawCatalog


@pytest.fixture(scope="session")
def raw_catalog() -> RawCatalog:
    return RawCatalog(SHARED_CATALOG)


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run `skyhop ARGS...` in-process; click always ends with SystemExit."""
    from skyhop.cli.main import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main(list(args))
        captured = capsys.readouterr()
        code = exited.value.code
        return CliResult(code if isinstance(code, int) else (0 if code is None else 1), captured.out, captured.err)

    return run
