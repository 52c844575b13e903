"""Pieces that are easiest to pin down on their own."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import pytest

from skyhop_agent import config, logs, nodeexec
from skyhop_agent.errors import AgentError


def _node(tmp_path: Path, **extra: object) -> config.Node:
    return config.Node("127.0.0.1", str(tmp_path), extra.get("workdir"), extra.get("exec_prefix"))  # type: ignore[arg-type]


def test_local_node_command_runs_in_workdir_else_base(tmp_path: Path) -> None:
    argv, cwd, env = nodeexec.node_command(_node(tmp_path, workdir=str(tmp_path / "wd")), "echo hi", {"X": "1"})
    assert argv == ["bash", "-c", "echo hi"] and cwd == str(tmp_path) and env["X"] == "1" and "PATH" in env
    (tmp_path / "wd").mkdir()
    assert nodeexec.node_command(_node(tmp_path, workdir=str(tmp_path / "wd")), "true", {})[1] == str(tmp_path / "wd")


def test_prefixed_node_command_carries_env_and_cwd_in_the_script(tmp_path: Path) -> None:
    (tmp_path / "wd").mkdir()
    node = _node(tmp_path, workdir=str(tmp_path / "wd"), exec_prefix=["env", "FROM_PREFIX=yes"])
    argv, cwd, env = nodeexec.node_command(node, 'echo "$X|$FROM_PREFIX|$(pwd)"', {"X": "it's quoted"})
    assert argv[:4] == ["env", "FROM_PREFIX=yes", "bash", "-c"] and cwd is None
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    assert out == f"it's quoted|yes|{tmp_path / 'wd'}\n"
    os.rmdir(tmp_path / "wd")  # no workdir yet: the base
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    assert out.endswith(f"|{tmp_path}\n")


@pytest.mark.parametrize(
    "content, lines, expected",
    [
        (b"a\nb\nc\n", 2, b"b\nc\n"),
        (b"a\nb\nc", 2, b"b\nc"),
        (b"a\nb\n", 5, b"a\nb\n"),
        (b"", 3, b""),
        (b"x" * 70000 + b"\nlast\n", 1, b"last\n"),
    ],
)
def test_tail(tmp_path: Path, content: bytes, lines: int, expected: bytes) -> None:
    path = tmp_path / "log"
    path.write_bytes(content)
    out = io.BytesIO()
    logs.stream(str(path), out, follow=False, tail=lines, finished=lambda: True)
    assert out.getvalue() == expected


def test_cluster_config_defaults_gpu_ids_from_counts() -> None:
    raw = {
        "cluster_name": "c",
        "provider": "local",
        "user": "u",
        "nodes": [{"rank": 0, "ip": "127.0.0.1", "base": "/b"}],
        "resources": {"cpus": 4, "gpus": {"L4": 2}},
    }
    checked = config.validate(raw)
    assert checked["resources"]["gpu_ids"] == {"L4": [0, 1]}
    assert checked["remove_on_down"] == [] and checked["autostop_hooks"] is None
    with pytest.raises(AgentError, match="gpu_ids.L4' lists 1"):
        config.validate(dict(raw, resources={"cpus": 4, "gpus": {"L4": 2}, "gpu_ids": {"L4": [7]}}))
    with pytest.raises(AgentError, match="autostop_hooks"):
        config.validate(dict(raw, autostop_hooks={"pause": ["x"]}))
