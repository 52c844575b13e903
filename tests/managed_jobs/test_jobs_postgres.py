"""Two API servers on one PostgreSQL database share the managed jobs; `kill -9` of one hands its jobs to the other.

Real parts: two `python -m skyhop.server` processes (one SKYHOP_HOME, so the
same local clusters and job logs; one SKYHOP_DB_URL), each hosting a jobs
controller; jobs submitted to each are driven by exactly one of them; after
SIGKILL the survivor takes the dead one's jobs at once and every job runs
exactly once (one marker line per run).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import postgres_db
import pytest
from e2e_support import cluster_processes, pid_gone, wait_for
from helpers import subprocess_env
from server.api_http import Server, send

from managed_jobs.conftest import FAST

pytestmark = pytest.mark.slow

RUN = 'echo "$SKYPILOT_TASK_ID" >> {bucket}/markers; until [ -e {bucket}/finish ]; do sleep 0.2; done'


def _start(env: dict[str, str], home: Path) -> tuple[subprocess.Popen, Server]:
    info_file = Path(env["SKYHOP_HOME"]) / "api" / "server.json"
    info_file.unlink(missing_ok=True)
    with open(home / "servers.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "skyhop.server"], env=env, stdout=log, stderr=log)
    wait_for(lambda: info_file.exists() or proc.poll() is not None, 60, "the server to start")
    info = json.loads(info_file.read_text())
    assert info["pid"] == proc.pid
    return proc, Server(info["url"], info["token"], proc.pid, home, env)


@pytest.fixture
def two_servers(isolated_home):
    for url in postgres_db.fresh_database():
        env = subprocess_env(isolated_home, SKYHOP_DB_URL=url)
        Path(env["SKYHOP_HOME"]).mkdir(mode=0o700, exist_ok=True)
        (Path(env["SKYHOP_HOME"]) / "config.yaml").write_text(FAST)
        procs = []
        try:
            first = _start(env, isolated_home)
            procs.append(first[0])
            second = _start(env, isolated_home)
            procs.append(second[0])
            yield first[1], second[1]
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
            # A test that failed midway leaves its jobs' local clusters running: end them with it.
            for pid in cluster_processes(Path(env["SKYHOP_HOME"])):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def _jobs(server: Server) -> dict[int, dict]:
    return {r["id"]: r for r in send(server, "GET", "/api/v1/managed-jobs").json}


def test_two_servers_share_the_jobs_and_the_survivor_of_a_kill_9_finishes_them_once(two_servers, tmp_path):
    a, b = two_servers
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    task = {"resources": {"cpus": 0.25}, "run": RUN.format(bucket=bucket)}
    for server in (a, b):
        answer = send(server, "POST", "/api/v1/managed-jobs", json_body={"tasks": [task], "name": "shared", "num_jobs": 3})
        assert answer.status == 200, answer.text
    wait_for(lambda: [j["status"] for j in _jobs(b).values()] == ["RUNNING"] * 6, 180, "six jobs running")
    owners = {}
    for job_id in _jobs(a):
        log = (Path(a.env["SKYHOP_HOME"]) / "managed_jobs" / str(job_id) / "controller.log").read_text()
        owners[job_id] = int(log.split("Picked up by controller ", 1)[1].split(":")[1])
    # Either server may pick up any unowned job (under load one can claim the other's submissions first):
    # the one driving the first job is killed, the other must take its jobs over.
    assert set(owners.values()) <= {a.pid, b.pid}, owners
    victim, survivor = (a, b) if owners[min(owners)] == a.pid else (b, a)

    os.kill(victim.pid, signal.SIGKILL)
    wait_for(lambda: pid_gone(victim.pid), 30, "the first server gone")
    taken_at = time.monotonic()
    orphans = [job_id for job_id, pid in owners.items() if pid == victim.pid]

    def taken_over() -> bool:
        return all(
            "Resumed by controller" in (Path(survivor.env["SKYHOP_HOME"]) / "managed_jobs" / str(j) / "controller.log").read_text()
            for j in orphans
        )

    wait_for(taken_over, 30, "the survivor resumed the dead server's jobs")
    assert time.monotonic() - taken_at < 30  # the lease lasts 30 s: a dead owner on this host is not waited for
    (bucket / "finish").touch()
    wait_for(lambda: [j["status"] for j in _jobs(survivor).values()] == ["SUCCEEDED"] * 6, 120, "all six succeeded")
    markers = (bucket / "markers").read_text().splitlines()
    assert sorted(markers) == sorted(f"skyhop-managed-{j}" for j in owners), markers
    wait_for(lambda: send(survivor, "GET", "/api/v1/clusters").json == [], 60, "every cluster taken down")
