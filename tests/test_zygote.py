"""The suite's forked CLI calls (tests/zygote.py) answer as `python -m skyhop.cli.main` does: same exit status,
same output on both streams, and a timeout that ends the call."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
import zygote
from helpers import subprocess_env


def _fresh(argv: list[str], env: dict[str, str], cwd) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "skyhop.cli.main", *argv], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


@pytest.mark.parametrize("argv", [["--version"], ["optimize", "--gpus", "H100:8", "--all-clouds", "--output", "json"], ["launch", "-y", "missing.yaml"],
                                  ["exec"], ["status", "--output", "yaml"]])
def test_a_forked_call_answers_as_a_fresh_process(isolated_home, tmp_path, argv):
    if zygote.CLI_SOCKET is None:
        pytest.skip("SKYHOP_TEST_NO_ZYGOTE=1: no CLI zygote")
    env = subprocess_env(isolated_home)
    forked = zygote.run(zygote.CLI_SOCKET, argv, env, tmp_path, 120)
    assert forked is not None, "the zygote refused a call with the suite's own interpreter settings"
    fresh = _fresh(argv, env, tmp_path)
    assert (forked.returncode, forked.stdout, forked.stderr) == (fresh.returncode, fresh.stdout, fresh.stderr)


def test_a_call_past_its_timeout_is_killed(isolated_home, tmp_path):
    if zygote.CLI_SOCKET is None:
        pytest.skip("SKYHOP_TEST_NO_ZYGOTE=1: no CLI zygote")
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)  # accepts (in the kernel) and never answers
    env = subprocess_env(isolated_home, SKYHOP_API_SERVER_URL=f"http://127.0.0.1:{silent.getsockname()[1]}")
    began = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        zygote.run(zygote.CLI_SOCKET, ["status"], env, tmp_path, 2)
    assert time.monotonic() - began < 60
    connection, _ = silent.accept()
    connection.settimeout(30)
    while connection.recv(65536):  # what the call sent, then its end: the killed call's socket closed
        pass
    silent.close()


def test_a_call_that_only_adds_pythonpath_entries_is_forked_with_them_first_on_sys_path(monkeypatch):
    monkeypatch.delenv("PYTHONPATH", raising=False)
    own = {k: v for k, v in os.environ.items() if k.startswith("PYTHON")}
    assert zygote._extra_path({**own, "PYTHONPATH": "/a:/b"}) == ["/a", "/b"]
    assert zygote._extra_path(own) == []
    assert zygote._extra_path({**own, "PYTHONSAFEPATH": "1"}) is None  # another interpreter setting: no fork
    monkeypatch.setenv("PYTHONPATH", "/z")
    assert zygote._extra_path({**own, "PYTHONPATH": "/a:/z"}) == ["/a"]
    assert zygote._extra_path({**own, "PYTHONPATH": "/a"}) is None  # drops the zygote's own entry
    assert zygote._extra_path(own) is None
