"""A `run:` over 128 KiB launches and runs (it failed with "Argument list too long": scripts went in an argv)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from e2e_support import Sky, cluster_processes


def test_a_300_kib_run_script_runs(isolated_home: Path, tmp_path: Path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    sky = Sky(isolated_home, workdir)
    lines = "".join(f"  : line {i} {'y' * 90}\n" for i in range(3000))
    task = sky.task("big.yaml", f"setup: |\n{lines}  echo setup-ok\nrun: |\n{lines}  echo run-ok\n")
    assert Path(task).stat().st_size > 2 * 256 * 1024
    try:
        result = sky("launch", "-y", "-c", "big", task, timeout=300)
        assert result.code == 0, result.err[-2000:]
        assert "setup-ok" in result.out and "run-ok" in result.out
    finally:
        sky("down", "--all", "-y", timeout=300)
        subprocess.run([sys.executable, "-m", "skyhop.cli.main", "api", "stop"], env=sky.env, capture_output=True, timeout=60)
        assert not cluster_processes(sky.skyhop_home)
