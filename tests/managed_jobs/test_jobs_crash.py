"""`kill -9` of the API server while managed jobs are STARTING, RUNNING and RECOVERING; the next server finishes them.

Real parts: the CLI and the server it starts are real processes, the server
is killed with SIGKILL, and the next CLI command starts a new one whose
controller takes over the dead server's jobs at once (its owner row names a
pid that is gone). STARTING and RECOVERING are held deterministically: those
launches fetch a file_mount from a test HTTP server whose gate is closed.
Every job appends a marker line per run to a directory all runs share, so the
test can tell that none ran twice (the preempted job runs exactly twice: once
before its preemption, once after), and that no cluster or process is left.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from e2e_support import cluster_processes, pid_gone, wait_for

pytestmark = pytest.mark.slow

TASK = """\
name: {name}
resources:
  cpus: 0.25
envs:
  BUCKET: {bucket}
{mounts}run: |
  echo "{name} recoveries=$SKYPILOT_NUM_RECOVERIES" >> $BUCKET/markers
  until [ -e $BUCKET/finish ]; do sleep 0.2; done
"""


@pytest.fixture
def sky(jobs_cli):
    return jobs_cli


def _launch(sky, bucket: Path, name: str, url: str | None = None) -> int:
    mounts = f"file_mounts:\n  ~/data.txt: {url}\n" if url else ""
    path = sky.task(f"{name}.yaml", TASK.format(name=name, bucket=bucket, mounts=mounts))
    return json.loads(sky("jobs", "launch", "-y", "-d", "--output", "json", path, check=True).out)["job_ids"][0]


def _statuses(sky) -> dict[int, str]:
    return {r["id"]: r["status"] for r in sky.json("jobs", "queue")}


def test_kill_9_while_starting_running_and_recovering_then_all_finish_once(sky, tmp_path, gate):
    url, is_open = gate
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    running = _launch(sky, bucket, "running")
    recovering = _launch(sky, bucket, "recovering", url)
    wait_for(lambda: _statuses(sky).get(running) == "RUNNING" and _statuses(sky).get(recovering) == "RUNNING", 120, "two jobs running")
    is_open.clear()  # launches from now on hang in their file_mounts sync
    starting = _launch(sky, bucket, "starting", url)
    cluster = next(r["cluster"] for r in sky.json("jobs", "queue") if r["id"] == recovering)
    sky("chaos", "preempt", cluster, check=True)
    wait_for(lambda: _statuses(sky) == {running: "RUNNING", recovering: "RECOVERING", starting: "STARTING"}, 60, "the three states")
    time.sleep(1.0)  # both launches are inside their (hanging) sync now
    assert _statuses(sky) == {running: "RUNNING", recovering: "RECOVERING", starting: "STARTING"}

    pid = sky.server_pid()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: pid_gone(pid), 30, "the killed server gone")
    is_open.set()
    # The next command starts a new server; its controller takes the dead one's jobs over.
    wait_for(lambda: set(_statuses(sky).values()) == {"RUNNING"}, 120, "all three running under the new server")
    assert sky.server_pid() != pid
    (bucket / "finish").touch()
    wait_for(lambda: set(_statuses(sky).values()) == {"SUCCEEDED"}, 120, "all three succeeded")

    markers = sorted((bucket / "markers").read_text().splitlines())
    assert markers == ["recovering recoveries=0", "recovering recoveries=1", "running recoveries=0", "starting recoveries=0"], markers
    rows = {r["id"]: r for r in sky.json("jobs", "queue")}
    assert [a["outcome"] for a in rows[recovering]["attempts"]] == ["preempted", "succeeded"]
    assert [a["outcome"] for a in rows[running]["attempts"]] == ["succeeded"]
    assert [a["outcome"] for a in rows[starting]["attempts"]] == ["succeeded"]
    wait_for(lambda: sky.clusters() == {}, 60, "every cluster taken down")
    wait_for(lambda: not cluster_processes(sky.skyhop_home), 30, "no cluster process left")
