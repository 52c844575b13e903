"""Malformed task files fail with one paragraph naming the field, never a traceback.

Each file in corpus/invalid starts with `# expect-path: <field path>` (`-`
for a file-level error such as broken YAML) and may carry
`# expect-hint: <text>` for a "did you mean" suggestion. The files are run
through the real CLI entry point (`skyhop.cli.main.main`, which is what the
`skyhop` console script calls) and through the Python API.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import run_cli

from skyhop.cli.main import main
from skyhop.spec.errors import SpecError
from skyhop.spec.pipeline import Pipeline
from skyhop.spec.task import Task

INVALID_DIR = (Path(__file__).parent / "corpus" / "invalid").resolve()
INVALID_FILES = sorted(INVALID_DIR.glob("*.yaml"))
_HEADER = re.compile(r"^# expect-(path|hint): (.+)$")


def expectations(path: Path) -> tuple[str, str | None]:
    """(expected SpecError.path, "" for a file-level error; expected hint or None)."""
    found: dict[str, str] = {}
    for line in path.read_text().splitlines()[:2]:
        match = _HEADER.match(line)
        if match:
            found[match.group(1)] = match.group(2).strip()
    assert "path" in found, f"{path.name}: the first line must be '# expect-path: <field path>'"
    return ("" if found["path"] == "-" else found["path"]), found.get("hint")


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def test_corpus_is_large_enough() -> None:
    assert len(INVALID_FILES) >= 32, [p.name for p in INVALID_FILES]


def test_corpus_headers_are_well_formed() -> None:
    for path in INVALID_FILES:
        assert path.read_text().startswith("# expect-path: "), path.name
        expectations(path)


def _assert_one_paragraph(text: str) -> None:
    text = text.strip()
    assert text, "empty error message"
    assert "\n" not in text, f"not a single line:\n{text}"
    assert "Traceback" not in text


@pytest.mark.parametrize("path", INVALID_FILES, ids=_ids(INVALID_FILES))
def test_api_error_names_the_field(path: Path) -> None:
    expected_path, hint = expectations(path)
    for loader in (Pipeline.from_yaml, Task.from_yaml):
        with pytest.raises(SpecError) as caught:
            loader(path)
        error = caught.value
        assert error.path == expected_path, str(error)
        assert error.source == str(path)
        message = str(error)
        _assert_one_paragraph(message)
        assert message.startswith(f"{path}: Invalid ")
        if expected_path:
            assert f"field '{expected_path}'" in message
        if hint:
            assert hint in message
            assert error.hint == hint


@pytest.mark.parametrize("path", INVALID_FILES, ids=_ids(INVALID_FILES))
def test_cli_prints_one_paragraph_and_exits_non_zero(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expected_path, hint = expectations(path)
    with pytest.raises(SystemExit) as exited:
        main(["optimize", str(path), "--all-clouds"])
    assert exited.value.code not in (0, None)
    out, err = capsys.readouterr()
    assert out == ""
    _assert_one_paragraph(err)
    assert err.startswith(f"Error: {path}: Invalid ")
    assert (f"field '{expected_path}'" if expected_path else "Invalid task:") in err
    if hint:
        assert hint in err


SUBPROCESS_CASES = [
    "resources-key-typo",
    "infra-bad-cloud",
    "yaml-syntax-error",
    "pipeline-bad-cpus",
]


@pytest.mark.parametrize("stem", SUBPROCESS_CASES)
def test_real_cli_subprocess(stem: str, isolated_home: Path) -> None:
    path = INVALID_DIR / f"{stem}.yaml"
    expected_path, hint = expectations(path)
    result = run_cli(isolated_home, "optimize", str(path), "--all-clouds")
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    _assert_one_paragraph(result.stderr)
    assert result.stderr.startswith(f"Error: {path}: Invalid ")
    assert (f"field '{expected_path}'" if expected_path else "not valid YAML at line") in result.stderr
    if hint:
        assert hint in result.stderr


def test_missing_file_is_a_clean_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(SystemExit) as exited:
        main(["optimize", str(missing), "--all-clouds"])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    _assert_one_paragraph(err)
    assert "file not found" in err and str(missing) in err


def test_env_flag_error_names_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    valid = Path(__file__).parent / "corpus" / "valid" / "hello-cpu.yaml"
    with pytest.raises(SystemExit) as exited:
        main(["optimize", str(valid), "--all-clouds", "--env", "NOVALUE"])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    _assert_one_paragraph(err)
    assert "Invalid field '--env'" in err
