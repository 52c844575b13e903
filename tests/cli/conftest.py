"""Run the CLI in-process (fast) exactly as the `skyhop` entry point does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pytest

from skyhop.cli.main import main


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def skyhop(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """`skyhop("show-gpus", "H100")` -> exit code, stdout, stderr."""

    def invoke(*args: str) -> Result:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke
