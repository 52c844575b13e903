"""The agent runs alone on bare nodes: Python >= 3.8 and the standard library only."""

from __future__ import annotations

import ast
import glob
import json
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from agent_harness import AGENT_SRC, MakeCluster

SOURCES = sorted(AGENT_SRC.glob("*.py"))
# The functions worker runs in the user's Python (the one their jobs get), not as part of the
# agent: it may use cloudpickle, says in its HELLO when it is missing, and no agent module imports it.
BEYOND_STDLIB = {"fnworker.py": {"cloudpickle"}}


def _imported_modules(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "use absolute imports (skyhop_agent....)"
            names.add((node.module or "").split(".")[0])
    return names


def _imported_paths(tree: ast.AST) -> set[str]:
    """Full dotted names: `from skyhop_agent import fnworker` is `skyhop_agent.fnworker`."""
    paths = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            paths |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            paths |= {node.module or ""} | {f"{node.module}.{alias.name}" for alias in node.names}
    return paths


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_python38_syntax_and_stdlib_only(path: Path) -> None:
    source = path.read_text()
    tree = ast.parse(source, filename=str(path), feature_version=(3, 8))
    modules = _imported_modules(tree)
    assert "skyhop" not in modules
    foreign = {m for m in modules if m not in sys.stdlib_module_names and m not in ("skyhop_agent", "__future__")}
    assert not foreign - BEYOND_STDLIB.get(path.name, set()), f"{path.name} imports non-stdlib modules {foreign}"
    assert "skyhop_agent.fnworker" not in _imported_paths(tree), f"{path.name} imports the functions worker, which only runs as its own process"


def test_every_module_has_future_annotations() -> None:
    """Annotations like `int | None` only work on Python 3.8 when they are never evaluated."""
    for path in SOURCES:
        assert "from __future__ import annotations" in path.read_text(), path.name


def _python38() -> str | None:
    home = pwd.getpwuid(os.getuid()).pw_dir
    roots = [os.environ.get("PYENV_ROOT", ""), os.path.join(home, ".pyenv")]
    candidates = [shutil.which("python3.8"), "/usr/bin/python3.8"]
    for root in filter(None, roots):
        candidates += sorted(glob.glob(os.path.join(root, "versions", "3.8*", "bin", "python3.8")))
    for candidate in candidates:
        if candidate and os.path.exists(candidate):
            probe = subprocess.run(
                [candidate, "-c", "import sys, sqlite3; print(sys.version_info[:2])"], capture_output=True, text=True
            )
            if probe.returncode == 0 and probe.stdout.strip() == "(3, 8)":
                return candidate
    return None


def test_a_job_runs_end_to_end_on_python38(make_cluster: MakeCluster) -> None:
    python = _python38()
    if python is None:
        pytest.skip("no Python 3.8 interpreter here")
    agent = make_cluster(num_nodes=2, python=python)
    agent.ok("daemon-start")
    job_id = agent.submit(setup="echo set up", run="echo rank $SKYPILOT_NODE_RANK", gpus=None)
    assert agent.wait(job_id)["status"] == "SUCCEEDED"
    assert sorted(agent.log(job_id).splitlines()) == ["(node-0) rank 0", "(node-0) set up", "(node-1) rank 1", "(node-1) set up"]
    held = agent.submit(run="sleep 300")
    assert agent.ok("cancel", str(held))["cancelled"] == [held]
    assert json.loads(agent.run("health").stdout)["daemon_alive"] is True
    assert agent.ok("self-stop")["ok"] is True
