"""Hostile YAML: an alias bomb or a huge file is refused with one clear paragraph, before anything expands it."""

from __future__ import annotations

import pytest
from helpers import run_cli

from skyhop.spec.errors import SpecError
from skyhop.spec.pipeline import Pipeline
from skyhop.spec.yaml_io import MAX_YAML_BYTES, load_documents


def billion_laughs(levels: int = 9) -> str:
    """The classic bomb under `config:`: each level lists the previous one ten times (10**levels strings)."""
    lines = ["run: echo hi", "config:", '  l0: &l0 "lol"']
    for level in range(1, levels + 1):
        refs = ", ".join([f"*l{level - 1}"] * 10)
        lines.append(f"  l{level}: &l{level} [{refs}]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_with_a_clear_error():
    with pytest.raises(SpecError) as caught:
        Pipeline.from_yaml_str(billion_laughs())
    message = str(caught.value)
    assert "aliases" in message and "1,000,000 values" in message and "billion laughs" in message
    assert "\n" not in message


def test_a_recursive_alias_is_refused_too():
    with pytest.raises(SpecError, match="aliases"):
        load_documents("config: &a {x: [*a, *a]}\nrun: echo\n")


def test_modest_alias_use_still_loads():
    task = Pipeline.from_yaml_str(billion_laughs(levels=3)).single_task()  # 1000 strings: fine
    assert len(task.config["l3"]) == 10


def test_oversized_yaml_is_refused_before_parsing(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("run: echo hi\n# " + "x" * MAX_YAML_BYTES + "\n")
    with pytest.raises(SpecError, match="larger than 4 MiB"):
        Pipeline.from_yaml(path)
    with pytest.raises(SpecError, match="larger than 4 MiB"):
        load_documents(path.read_text())


def test_cli_answers_the_bomb_with_one_paragraph(isolated_home, tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(billion_laughs())
    done = run_cli(isolated_home, "launch", "-y", "--dryrun", str(path))
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "aliases" in done.stderr and "billion laughs" in done.stderr
