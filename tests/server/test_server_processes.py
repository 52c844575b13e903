"""Several API server processes on one database and one port: what one leaves, another carries on.

Real parts: worker processes of `python -m skyhop.server` (each a full
server: controllers, executor, adoption sweep) bound to one port with
SO_REUSEPORT, the real CLI, the local provider, a PostgreSQL database of its
own. Which process holds what is read from the database and the test chooses
whom to kill, so every step is deterministic: workers are started one at a
time, and work is submitted while only the intended owner runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import postgres_db
import pytest
from e2e_support import Sky, pid_gone, wait_for

from skyhop.client import http
from skyhop.client.server_process import Endpoint
from skyhop.server import workers
from skyhop.state.controller_leases import OwnerId
from skyhop.state.managed import KIND as JOB_KIND
from skyhop.state.models import ControllerLease
from skyhop.state.store import StateStore

pytestmark = pytest.mark.slow

CONFIG = """\
jobs:
  poll_seconds: 0.5
  controller_tick_seconds: 0.2
  lease_seconds: 6
api_server:
  drain_seconds: 1
  drain_notice_seconds: 1
"""
#: Runs until the test opens its gate (a file), so the launch is surely still following it when its server goes.
GATED_JOB = "resources:\n  cpus: 0.25\nrun: until [ -e {gate} ]; do sleep 0.1; done; echo finished {n}\n"
LONG_JOB = "name: held\nresources:\n  cpus: 0.25\nrun: sleep 600\n"


class Fleet:
    """Worker processes on one port, started and stopped by the test (no supervisor: nothing restarts them)."""

    def __init__(self, home: Path, url: str) -> None:
        self.token = secrets.token_urlsafe(24)
        self.holder = workers.reuse_port_socket("127.0.0.1", 0, listen=False)
        self.port = self.holder.getsockname()[1]
        self.endpoint = Endpoint(f"http://127.0.0.1:{self.port}", self.token)
        self.env = {"SKYHOP_DB_URL": url, "SKYHOP_API_SERVER_URL": self.endpoint.url, "SKYHOP_API_TOKEN": self.token}
        self.procs: dict[int, subprocess.Popen] = {}
        self.log = home / "workers.log"

    def spawn(self) -> workers.Worker:
        """A worker started; it takes connections once `ready` returns (it may already start up while the test goes on)."""
        with open(self.log, "ab") as log, _env(self.env):
            worker = workers.Worker("127.0.0.1", self.port, self.token, output=log)
        self.procs[worker.process.pid] = worker.process
        return worker

    @staticmethod
    def ready(worker: workers.Worker) -> int:
        workers.wait_ready([worker], timeout_s=60)
        return worker.process.pid

    def start(self) -> int:
        return self.ready(self.spawn())

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.holder.close()


class _env:
    """The workers inherit this process's environment (isolated_home's), plus the database URL."""

    def __init__(self, extra: dict[str, str]) -> None:
        self.extra = extra

    def __enter__(self) -> None:
        self.saved = {k: os.environ.get(k) for k in self.extra}
        os.environ.update(self.extra)

    def __exit__(self, *_exc: object) -> None:
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def fleet(isolated_home: Path, tmp_path: Path):
    skyhop_home = isolated_home / ".skyhop"
    skyhop_home.mkdir(mode=0o700, exist_ok=True)
    (skyhop_home / "config.yaml").write_text(CONFIG)
    for url in postgres_db.fresh_database():
        work = tmp_path / "work"
        work.mkdir()
        fleet = Fleet(isolated_home, url)
        sky = Sky(isolated_home, work)
        sky.env.update(fleet.env)
        store = StateStore(url)
        try:
            yield fleet, sky, store
        finally:
            try:
                if any(p.poll() is None for p in fleet.procs.values()):
                    sky("jobs", "cancel", "-a", "-y", timeout=60)
                    sky("down", "--all", "-y", timeout=120)
            finally:
                fleet.stop()
                store.close()
                print((isolated_home / "workers.log").read_text(errors="replace")[-20000:])


def _pid(owner: str | None) -> int | None:
    parsed = OwnerId.parse(owner) if owner else None
    return parsed.pid if parsed else None


def _lease_pid(store: StateStore, job_id: int) -> int | None:
    with store._read() as session:
        lease = session.get(ControllerLease, (JOB_KIND, str(job_id)))
        return _pid(lease.owner) if lease is not None else None


def _submit(sky: Sky, n: int) -> str:
    path = sky.task(f"gated{n}.yaml", GATED_JOB.format(n=n, gate=sky.cwd / f"gate{n}"))
    return json.loads(sky("launch", "-y", "--async", "--output", "json", "-c", "shared", path, check=True).out)["request_id"]


def _job_submitted(store: StateStore, request_id: str) -> bool:
    """The launch recorded its job (it is following it now): the moment to take its server away."""
    record = store.get_request(request_id)
    return record.status == "RUNNING" and any('"job"' in line for line in Path(record.log_path).read_text().splitlines())


def _finished(store: StateStore, request_id: str):
    record = store.get_request(request_id)
    return record if record.status not in ("PENDING", "RUNNING") else None


def test_kill_9_and_sigterm_hand_requests_and_leases_to_the_other_process(fleet):
    fleet, sky, store = fleet
    first = fleet.start()
    held = json.loads(sky("jobs", "launch", "-y", "-d", "--output", "json", sky.task("held.yaml", LONG_JOB), check=True).out)["job_ids"][0]
    launch = _submit(sky, 1)
    assert _pid(store.get_request(launch).server_owner) == first  # only one process runs: it owns both
    starting = fleet.spawn()
    wait_for(lambda: _job_submitted(store, launch), 120, "the launch following its job")
    second = fleet.ready(starting)
    wait_for(lambda: _lease_pid(store, held) == first, 60, "the managed job driven by the first process")

    # kill -9 of the process running the launch and the managed job, while a client keeps reading.
    failures: list[str] = []
    reads = 0
    stop_reading = threading.Event()

    def read() -> None:
        nonlocal reads
        while not stop_reading.is_set():
            try:
                http.call(fleet.endpoint, "GET", f"/api/v1/requests/{launch}", timeout=30, expect="record")
                reads += 1
            except Exception as error:  # noqa: BLE001 (any failure is what the test reports)
                failures.append(repr(error))

    reader = threading.Thread(target=read)
    reader.start()
    # A client following the launch: if its stream ran through the killed process, it re-attaches by itself.
    follower = subprocess.Popen([sys.executable, "-m", "skyhop.cli.main", "api", "logs", launch], env=sky.env, cwd=sky.cwd,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    killed_at = time.monotonic()
    os.kill(first, signal.SIGKILL)
    fleet.procs[first].wait()
    wait_for(lambda: _pid(store.get_request(launch).server_owner) == second, 60, "the launch adopted by the second process")
    adopted_after = time.monotonic() - killed_at
    wait_for(lambda: _lease_pid(store, held) == second, 60, "the managed job's lease claimed by the second process")
    claimed_after = time.monotonic() - killed_at
    time.sleep(0.5)
    stop_reading.set()
    reader.join()
    assert failures == [] and reads > 0, failures
    (sky.cwd / "gate1").touch()
    done = wait_for(lambda: _finished(store, launch), 120, "the adopted launch finished")
    assert (done.status, done.error) == ("SUCCEEDED", None)
    log = Path(done.log_path).read_text()
    assert "Resumed after an API server restart" in log and "finished 1" in log
    out, err = follower.communicate(timeout=60)
    assert follower.returncode == 0, err
    assert out.count("finished 1") == 1, (out, err)  # every event shown once, re-attached or not
    print(f"kill -9 -> request adopted in {adopted_after:.2f} s, managed-job lease claimed in {claimed_after:.2f} s")

    # SIGTERM: the draining process says so on /ready, then hands its launch and lease over before the TTL.
    second_launch = _submit(sky, 2)  # only the second process runs: it owns it
    starting = fleet.spawn()
    wait_for(lambda: _job_submitted(store, second_launch), 120, "the second launch following its job")
    third = fleet.ready(starting)
    termed_at = time.monotonic()
    fleet.procs[second].send_signal(signal.SIGTERM)
    # New connections reach either process (the kernel picks one per connection): ask until the draining one answers.
    seen: list[tuple[int, dict]] = []
    while fleet.procs[second].poll() is None and not any(body["pid"] == second for _, body in seen):
        seen.append(http1_get(fleet.endpoint, "/api/v1/ready"))
    from_draining = [body for status, body in seen if body["pid"] == second]
    assert from_draining, f"the draining process exited before it answered /ready: {seen[-5:]}"
    assert from_draining[0]["ready"] is False and from_draining[0]["reason"].startswith("draining"), from_draining
    assert fleet.procs[second].wait(timeout=60) == 0
    wait_for(lambda: _pid(store.get_request(second_launch).server_owner) == third, 60, "the launch adopted by the third process")
    wait_for(lambda: _lease_pid(store, held) == third, 60, "the managed job's lease claimed by the third process")
    print(f"SIGTERM -> request and lease with the third process after {time.monotonic() - termed_at:.2f} s")
    (sky.cwd / "gate2").touch()
    done = wait_for(lambda: _finished(store, second_launch), 120, "the handed-over launch finished")
    assert (done.status, done.error) == ("SUCCEEDED", None)
    assert "finished 2" in Path(done.log_path).read_text()
    assert {r["id"]: r["status"] for r in sky.json("jobs", "queue")}[held] in ("STARTING", "RUNNING")


def http1_get(endpoint: Endpoint, path: str) -> tuple[int, dict]:
    """Status and JSON body of a GET, whatever the status (the client raises on 503)."""
    from urllib.parse import urlsplit

    from skyhop.client import http1

    parts = urlsplit(endpoint.url)
    response = http1.exchange("http", parts.hostname or "127.0.0.1", parts.port, "GET", path, {}, None, 10)
    try:
        return response.status, json.loads(response.read())
    finally:
        response.close()


def test_workers_share_one_port_on_sqlite_and_sweep_up_what_dead_or_lapsed_owners_left(migrated_home: Path) -> None:
    """A team server with `--workers 2` on an SQLite file (WAL): both answer on the one port, the parent replaces one
    killed, and the periodic sweep (not the
    start-up pass) adopts requests of an owner dead on this host and of one whose row lapsed elsewhere, not those of a
    live owner elsewhere nor of a running process here (whatever its row says)."""
    from helpers import run_cli

    from skyhop.state.controller_leases import ControllerLeases

    isolated_home = migrated_home
    skyhop_home = isolated_home / ".skyhop"
    skyhop_home.mkdir(mode=0o700, exist_ok=True)
    (skyhop_home / "config.yaml").write_text("jobs:\n  lease_seconds: 3\napi_server:\n  drain_notice_seconds: 0\n")
    started = run_cli(isolated_home, "api", "start", "--team", "--port", "0", "--workers", "2")
    assert started.returncode == 0, started.stderr
    assert started.stdout.count("shp_") == 1 and "Team API server started" in started.stdout, "the parent made the one admin"
    info_file = skyhop_home / "api" / "server.json"
    info = json.loads(info_file.read_text())
    parent = info["pid"]
    try:
        endpoint = Endpoint(info["url"], None)  # health is open
        pids: set[int] = set()
        for _ in range(200):  # the kernel spreads new connections over both (by a hash of each connection's ports)
            pids.add(http.call(endpoint, "GET", "/api/v1/health")["pid"])
            if len(pids) == 2:
                break
        assert len(pids) == 2 and parent not in pids, "two workers answer on the one port, the parent holds it only"

        with StateStore() as store:
            alive_elsewhere = OwnerId("elsewhere", 1, "1")
            ControllerLeases(store, alive_elsewhere).rejoin(600)
            owners = {
                "held": str(alive_elsewhere),
                "alive-here": str(OwnerId.of_this_process()),  # no owner row at all, but its process runs: it keeps it
                "dead-here": f"{socket.gethostname()}:{_reaped_pid()}:1",
                "lapsed": "elsewhere:2:1",
            }
            for request_id, owner in owners.items():  # the live owners' first: every sweep that sees the others sees them
                log = skyhop_home / f"{request_id}.log"
                log.touch()
                store.create_request("down", {"cluster": "nothing-here", "purge": False}, cluster="nothing-here", log_path=str(log),
                                     request_id=request_id, server_owner=owner, server_pid=None)
                store.start_request(request_id, 0)
            for request_id in ("dead-here", "lapsed"):
                done = wait_for(lambda request_id=request_id: _finished(store, request_id), 60, f"{request_id} adopted and ended")
                assert _pid(done.server_owner) in pids
                assert "Resumed after an API server restart." in Path(done.log_path).read_text()
            for request_id in ("held", "alive-here"):
                kept = store.get_request(request_id)
                assert (kept.status, kept.server_owner) == ("RUNNING", owners[request_id])
        victim = min(pids)  # the parent replaces a worker that dies
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: pid_gone(victim), 30, "the killed worker gone")
        replaced: set[int] = set()

        def replacement_answers() -> bool:
            replaced.add(http.call(endpoint, "GET", "/api/v1/health")["pid"])
            return bool(replaced - pids)

        wait_for(replacement_answers, 60, "a new worker answering on the port")
        pids = (pids - {victim}) | replaced
        stopped = run_cli(isolated_home, "api", "stop")  # SIGTERM to the parent, which passes it on and waits
        assert stopped.returncode == 0 and "API server stopped." in stopped.stdout, stopped.stderr
        assert all(not Path(f"/proc/{pid}").exists() for pid in pids), "the workers ended with their parent"
        log = (skyhop_home / "api" / "server.log").read_text()
        assert f"API server worker {victim} exited (code -9); starting another" in log
    finally:
        for pid in (parent, *pids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _reaped_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid
