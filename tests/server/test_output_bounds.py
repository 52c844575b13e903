"""A job printing 100 MB without a newline keeps the API server under 300 MB RSS, end to end.

The output (a `\\r` progress bar) flows node -> agent log -> agent follower ->
request event log -> HTTP -> CLI while the CLI follows the launch, and again
through `skyhop logs`. Before chunked streaming, 200 MB of such output took
the server to 1.08 GB: every layer read "a line". The peak (VmHWM) of the
server process is read from /proc after both passes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from e2e_support import Sky, cluster_processes

MB = 1000 * 1000
PRINTED = 100 * MB
RSS_LIMIT_KB = 300 * 1024


def _peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc status")


def _skyhop(sky: Sky, out: Path, *args: str) -> subprocess.CompletedProcess:
    with out.open("wb") as f:
        return subprocess.run([sys.executable, "-m", "skyhop.cli.main", *args], stdout=f, stderr=subprocess.PIPE, env=sky.env, cwd=sky.cwd, timeout=900)


@pytest.mark.slow
def test_100_mb_without_a_newline_keeps_the_server_small(isolated_home: Path, tmp_path: Path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    sky = Sky(isolated_home, workdir)
    sky.skyhop_home.mkdir(parents=True, exist_ok=True)
    (sky.skyhop_home / "config.yaml").write_text("api_server:\n  request_log_max_mb: 400\n")  # all of it through the request log
    task = sky.task("bar.yaml", f"run: |\n  python3 -c \"import sys\n  for i in range({PRINTED // 1000}): sys.stdout.write('#' * 999 + chr(13))\"\n")
    try:
        launched = _skyhop(sky, tmp_path / "launch.out", "launch", "-y", "-c", "bar", task)
        assert launched.returncode == 0, launched.stderr.decode()[-2000:]
        assert (tmp_path / "launch.out").stat().st_size >= PRINTED
        pid = sky.server_pid()
        after_launch = _peak_rss_kb(pid)
        logs = _skyhop(sky, tmp_path / "logs.out", "logs", "bar", "1")
        assert logs.returncode == 0, logs.stderr.decode()[-2000:]
        assert (tmp_path / "logs.out").stat().st_size >= PRINTED
        peak = _peak_rss_kb(pid)
        print(f"API server peak RSS: {after_launch // 1024} MiB after following the launch, {peak // 1024} MiB after logs")
        assert peak < RSS_LIMIT_KB, f"API server peak RSS {peak // 1024} MiB"
    finally:
        sky("down", "--all", "-y", timeout=300)
        subprocess.run([sys.executable, "-m", "skyhop.cli.main", "api", "stop"], env=sky.env, capture_output=True, timeout=60)
        assert not cluster_processes(sky.skyhop_home)
