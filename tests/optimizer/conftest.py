"""Fixtures for the optimizer tests: the raw catalog, and the CLI run in-process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from helpers import SHARED_CATALOG, subprocess_env
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


@pytest.fixture(scope="session")
def planning_server_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Path]]:
    """A SKYHOP_HOME per catalog directory, shared by this worker's in-process `cli` calls.

    The API server plans `optimize`; starting one per test would cost seconds
    each. Each home's server starts on first use with the test's environment,
    which has no credentials (see `isolated_home`), so only results that need
    none are asked of it; tests about credentials run their own (`run_cli`).
    """
    homes: dict[str, Path] = {}
    yield lambda catalog: homes.setdefault(catalog, tmp_path_factory.mktemp("planning-server"))
    for home in homes.values():
        subprocess.run([sys.executable, "-m", "skyhop.cli.main", "api", "stop"], env=subprocess_env(home), capture_output=True, timeout=120)


@pytest.fixture
def planning_home(planning_server_home: Callable[[str], Path]) -> Path:
    """The shared home for the shared catalog: `run_cli(planning_home, ...)` runs a real CLI process against its server."""
    return planning_server_home(str(SHARED_CATALOG))


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, planning_server_home: Callable[[str], Path]) -> Callable[..., CliResult]:
    """Run `skyhop ARGS...` in-process (click always ends with SystemExit), against the shared planning server."""
    from skyhop.cli.main import main

    def run(*args: str) -> CliResult:
        home = planning_server_home(os.environ["SKYHOP_CATALOG_DIR"])
        capsys.readouterr()
        with monkeypatch.context() as env, pytest.raises(SystemExit) as exited:
            env.setenv("HOME", str(home))
            env.setenv("SKYHOP_HOME", str(home / ".skyhop"))
            main(list(args))
        captured = capsys.readouterr()
        code = exited.value.code
        return CliResult(code if isinstance(code, int) else (0 if code is None else 1), captured.out, captured.err)

    return run
