"""Ctrl-C while the CLI is still loading its modules ends quietly, like a Ctrl-C later on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_ctrl_c_during_start_up_is_not_a_traceback(tmp_path: Path, isolated_home: Path) -> None:
    # Deterministic stand-in for a Ctrl-C that lands while click is being imported.
    fake = tmp_path / "click"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise KeyboardInterrupt\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path), SKYHOP_HOME=str(isolated_home))
    script = Path(sys.executable).parent / "skyhop"  # the installed entry point, as users run it
    done = subprocess.run([str(script), "status"], capture_output=True, text=True, env=env, timeout=60)
    assert (done.returncode, done.stderr) == (130, "Interrupted.\n"), done.stderr[-1000:]
