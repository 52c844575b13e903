"""Job logs stay bounded in memory whatever the job prints (no newlines, endless `\\r` progress bars)."""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from skyhop_agent import logs
from skyhop_agent.paths import Layout


def _naive_tail(content: bytes, lines: int) -> bytes:
    if lines <= 0:
        return b""
    trailing = content.endswith(b"\n")
    parts = (content[:-1] if trailing else content).split(b"\n")
    return b"\n".join(parts[-lines:]) + (b"\n" if trailing else b"") if content else b""


@pytest.mark.parametrize("seed", range(40))
def test_tail_matches_a_plain_reading_of_the_file(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    content = b"".join(rng.choice([b"\n", b"x" * rng.randint(0, 70000), b"ab", b"\r"]) for _ in range(rng.randint(0, 12)))
    lines = rng.randint(0, 6)
    path = tmp_path / "log"
    path.write_bytes(content)
    out = io.BytesIO()
    logs.stream(str(path), out, follow=False, tail=lines, finished=lambda: True)
    assert out.getvalue() == _naive_tail(content, lines)


# VmHWM, not ru_maxrss: the latter keeps the forking parent's (pytest's) size across exec.
PEAK = """
import sys
from skyhop_agent import logs
out = open("/dev/null", "wb")
logs.stream(sys.argv[1], out, follow=False, tail=int(sys.argv[2]), finished=lambda: True)
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""


def test_tail_of_a_log_without_newlines_does_not_load_it(tmp_path: Path) -> None:
    path = tmp_path / "log"
    with open(path, "wb") as f:
        for _ in range(48):
            f.write(b"=" * (1 << 20))  # 48 MiB, one endless line: reading it whole would show
    env = {**os.environ, "PYTHONPATH": str(Path(logs.__file__).parent.parent)}
    done = subprocess.run([sys.executable, "-c", PEAK, str(path), "3"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) < 32 * 1024, f"peak RSS {int(done.stdout)} KiB"  # an interpreter alone is ~10 MiB


def test_multi_node_run_log_cuts_endless_lines_into_prefixed_pieces(tmp_path: Path) -> None:
    layout = Layout(str(tmp_path))
    job_logs = logs.JobLogs(layout, 1, 2)
    reader, writer = os.pipe()
    payload = b"\r".join(b"%d%%" % i for i in range(60000))  # ~300 KB progress bar, no newline
    pid = os.fork()
    if pid == 0:
        os.close(reader)
        os.write(writer, payload + b"\ndone\n")
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        job_logs.pump(1, pipe)
    os.waitpid(pid, 0)
    job_logs.close()
    combined = Path(layout.run_log(1)).read_bytes().decode()  # not read_text: it would turn \r into \n
    pieces = combined.split("\n")[:-1]
    assert all(p.startswith("(node-1) ") and len(p) <= logs.MAX_LINE + len("(node-1) ") for p in pieces)
    assert "".join(p.removeprefix("(node-1) ") for p in pieces) == (payload + b"done").decode()
    assert Path(layout.node_log(1, 1)).read_bytes() == payload + b"\ndone\n"
