"""A restarted API server resumes what a dead one left unfinished (issue 9 §4: the blocked set persists).

Real parts: the CLI and the API server it starts are real processes, the server
is killed with SIGKILL while a provider call is in flight (the test plugin's
`hang`, after it created the nodes), and the next CLI command starts a new
server, which resumes the request under the same id.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import textwrap
import time
from pathlib import Path

import pytest
from helpers import run_cli
from providers.conftest import plugin_site  # noqa: F401  (the installed test plugin: shadeform, primeintellect)

from skyhop.identity import current_user

pytestmark = pytest.mark.slow

TASK = textwrap.dedent(
    """\
    resources:
      accelerators: H100:8
      any_of:
        - infra: primeintellect/FI
        - infra: shadeform/saltlakecity-usa-1
    run: echo "ran on $SKYPILOT_CLUSTER_INFO"
    """
)
SECRET = "s3cr3t-value-only-in-memory"


def _script(home: Path, failures: dict[str, str]) -> None:
    (home / ".skyhop").mkdir(exist_ok=True)
    (home / ".skyhop" / "catalogcloud.json").write_text(json.dumps(failures))


def _calls(home: Path) -> list[str]:
    path = home / ".skyhop" / "catalogcloud-calls"
    return path.read_text().splitlines() if path.exists() else []


def _cli(home: Path, site: Path, *args: str):
    return run_cli(home, *args, PYTHONPATH=str(site))


def _submit(home: Path, site: Path, task: str, *args: str) -> str:
    path = home / "task.yaml"
    path.write_text(task)
    result = _cli(home, site, "launch", "-y", "--async", "--output", "json", *args, str(path))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["request_id"]


def _wait_for_call(home: Path, line: str) -> None:
    deadline = time.monotonic() + 120
    while line not in _calls(home):
        assert time.monotonic() < deadline, f"the provider was never asked for {line!r}: {_calls(home)}"
        time.sleep(0.1)


def _wait_for_file(path: Path) -> None:
    deadline = time.monotonic() + 120
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def _server_pid(home: Path) -> int:
    return int(json.loads((home / ".skyhop" / "api" / "server.json").read_text())["pid"])


def _kill_server(home: Path) -> int:
    pid = _server_pid(home)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists():  # the CLI's child: gone once init reaps it
        assert time.monotonic() < deadline, "the killed server did not go away"
        time.sleep(0.05)
    return pid


def _request(home: Path, site: Path, request_id: str) -> dict:
    rows = json.loads(_cli(home, site, "api", "status", "--output", "json").stdout)["requests"]
    return next(r for r in rows if r["request_id"] == request_id)


def test_a_launch_killed_mid_provision_resumes_with_its_blocked_set(isolated_home, plugin_site):  # noqa: F811
    home = isolated_home
    _script(home, {"primeintellect/FI/FIN-02": "capacity", "primeintellect/FI/eu-north1": "hang"})
    request_id = _submit(home, plugin_site, TASK, "-c", "rs")
    try:
        _wait_for_call(home, "primeintellect/FI/eu-north1 hang")  # FIN-02 failed and is recorded
        _wait_for_file(home / ".skyhop" / "catalogcloud" / "rs" / "provider.json")  # eu-north1's nodes exist (the call is logged first)
        dead = _kill_server(home)
        # FIN-02 is still full: asking it again would fail (and show in the calls); eu-north1 has room now.
        _script(home, {"primeintellect/FI/FIN-02": "capacity"})
        followed = _cli(home, plugin_site, "api", "logs", request_id)  # starts a new server, which resumes the request
        assert followed.returncode == 0, followed.stderr
        assert "Traceback" not in followed.stderr
        assert "ran on" in followed.stdout  # the job ran, and the re-attached client saw it to the end
        assert _server_pid(home) != dead
        assert _calls(home) == [
            "primeintellect/FI/FIN-02 capacity",
            "primeintellect/FI/eu-north1 hang",
            "primeintellect/FI/eu-north1 launched",  # not FIN-02 again: the blocked set came from the request's log
        ]
        log = followed.stderr
        assert "[skyhop] primeintellect/FI/FIN-02 datacrunch__8xH100_80GB__176__1480: primeintellect: scripted capacity failure" in log  # the old attempt, before the crash
        assert "Resumed after an API server restart; 1 earlier attempt(s) carried over." in log
        assert "Removing what the interrupted launch left of cluster 'rs' (primeintellect)." in log
        record = _request(home, plugin_site, request_id)
        assert record["status"] == "SUCCEEDED" and record["error_code"] is None
        attempts = record["result"]["plan"]["attempts"]
        assert [(a["infra"], a["outcome"]) for a in attempts] == [
            ("primeintellect/FI/FIN-02", "failed"), ("primeintellect/FI/eu-north1", "launched"),
        ]
        clusters = json.loads(_cli(home, plugin_site, "status", "--output", "json").stdout)
        assert [(c["name"], c["status"], c["region"], c["zone"]) for c in clusters] == [("rs", "UP", "FI", "eu-north1")]
        log_file = Path(record["log_path"])
        assert stat.S_IMODE(log_file.stat().st_mode) == 0o600  # appended to, never re-created
    finally:
        _cli(home, plugin_site, "down", "--all", "-y")
    assert not (home / ".skyhop" / "catalogcloud" / "rs").exists()


def test_a_launch_whose_job_was_submitted_follows_it_and_never_runs_it_twice(isolated_home, plugin_site):  # noqa: F811
    home = isolated_home
    _script(home, {})
    marker = home / "runs"
    task = TASK.replace('run: echo "ran on $SKYPILOT_CLUSTER_INFO"', f"run: echo run >> {marker}; sleep 4; echo finished")
    request_id = _submit(home, plugin_site, task, "-c", "fj")
    try:
        log = home / ".skyhop" / "api" / "requests" / f"{request_id}.log"
        deadline = time.monotonic() + 120
        while not marker.exists():  # the job runs: its `job` event is in the log
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        assert '{"job": 1}' in log.read_text()
        _kill_server(home)
        followed = _cli(home, plugin_site, "api", "logs", request_id)
        assert followed.returncode == 0, followed.stderr
        assert "finished" in followed.stdout
        assert "Resumed after an API server restart; 0 earlier attempt(s) carried over." in followed.stderr
        assert marker.read_text() == "run\n"  # once
        assert _calls(home) == ["primeintellect/FI/FIN-02 launched"]  # and provisioned once
        assert _request(home, plugin_site, request_id)["result"]["job_status"] == "SUCCEEDED"
        jobs = json.loads(_cli(home, plugin_site, "queue", "fj", "--output", "json").stdout)
        assert [(j["job_id"], j["status"]) for j in jobs] == [(1, "SUCCEEDED")]
    finally:
        _cli(home, plugin_site, "down", "--all", "-y")


def test_a_launch_with_a_secret_is_failed_after_a_restart_and_cleaned_up(isolated_home, plugin_site):  # noqa: F811
    home = isolated_home
    _script(home, {"primeintellect/FI/FIN-02": "hang"})
    task = TASK.replace("run:", "secrets:\n  TOKEN: null\nrun:")
    request_id = _submit(home, plugin_site, task, "-c", "sec", "--secret", f"TOKEN={SECRET}")
    _wait_for_call(home, "primeintellect/FI/FIN-02 hang")
    _wait_for_file(home / ".skyhop" / "catalogcloud" / "sec" / "provider.json")  # the hung call's nodes exist
    _kill_server(home)
    _script(home, {})
    followed = _cli(home, plugin_site, "api", "logs", request_id)
    assert followed.returncode == 1 and "Traceback" not in followed.stderr
    assert "needs the values of secret TOKEN" in followed.stderr
    assert "Run the same `skyhop launch` command again. The half-created cluster 'sec' was removed." in followed.stderr
    record = _request(home, plugin_site, request_id)
    assert (record["status"], record["error_code"]) == ("FAILED", "interrupted")
    # Nothing half-made is left: neither the INIT record nor the nodes the hung call created.
    assert json.loads(_cli(home, plugin_site, "status", "--output", "json").stdout) == []
    assert not (home / ".skyhop" / "catalogcloud" / "sec").exists()
    assert _calls(home) == ["primeintellect/FI/FIN-02 hang"]  # and nothing was launched again
    leaked = [p for p in (home / ".skyhop").rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert leaked == []  # not in the state DB (or its WAL), the request log or the server log


def test_a_down_whose_server_died_is_resumed_and_removes_the_cluster(isolated_home, plugin_site):  # noqa: F811
    from skyhop.state.store import StateStore

    home = isolated_home
    _script(home, {})
    launched = _cli(home, plugin_site, "launch", "-y", "-c", "dn", "--infra", "shadeform", "--gpus", "H100:8", "true")
    assert launched.returncode == 0, launched.stderr
    dead = _kill_server(home)
    # The dead server had accepted `down dn` and started it: its record, as it left it.
    log_path = home / ".skyhop" / "api" / "requests" / "downreq.log"
    log_path.write_text(json.dumps({"phase": "tearing down"}) + "\n")
    with StateStore() as store:
        store.create_request(
            "down", {"cluster": "dn", "purge": False}, cluster="dn", user=current_user(), log_path=str(log_path), request_id="downreq", server_pid=dead
        )
        store.start_request("downreq", dead)
    followed = _cli(home, plugin_site, "api", "logs", "downreq")
    assert followed.returncode == 0, followed.stderr
    assert "Resumed after an API server restart." in followed.stderr
    assert _request(home, plugin_site, "downreq")["status"] == "SUCCEEDED"
    assert json.loads(_cli(home, plugin_site, "status", "--output", "json").stdout) == []
    assert not (home / ".skyhop" / "catalogcloud" / "dn").exists()


def test_requests_of_a_living_server_are_left_alone(isolated_home, tmp_path):
    """Only a dead owner's requests are taken over; an exec whose server died ends `interrupted`, not run twice."""
    from skyhop.server.executor import Executor
    from skyhop.server.services import resume
    from skyhop.state.store import StateStore

    started = run_cli(isolated_home, "api", "start")
    assert started.returncode == 0, started.stderr
    living = _server_pid(isolated_home)
    dead = _reaped_pid()
    with StateStore() as store:
        for request_id, owner, name in (("theirs", living, "launch"), ("orphan", dead, "exec")):
            log = tmp_path / f"{request_id}.log"
            log.write_text(json.dumps({"job": 7}) + "\n" if name == "exec" else "")
            store.create_request(name, {"cluster": "c", "task": {"run": "true"}}, cluster="c", log_path=str(log), request_id=request_id, server_pid=owner)
            store.start_request(request_id, owner)
        executor = Executor(store, {})
        try:
            outcome = resume.resume_orphans(store, executor)
            assert (outcome.alive, outcome.resumed, outcome.failed) == (("theirs",), (), ("orphan",))
            deadline = time.monotonic() + 30
            while executor.is_active("orphan"):
                assert time.monotonic() < deadline
                time.sleep(0.05)
        finally:
            executor.shutdown()
        theirs = store.get_request("theirs")
        assert (theirs.status, theirs.server_pid) == ("RUNNING", living)
        orphan = store.get_request("orphan")
        assert (orphan.status, orphan.error_code) == ("FAILED", "interrupted")
        assert "job 7 was submitted: the job keeps running on 'c' (`skyhop logs c 7` follows it" in orphan.error
    assert "The API server restarted; this exec request is not repeated." in (tmp_path / "orphan.log").read_text()


def _reaped_pid() -> int:
    """A pid that no process has any more (a child that exited and was waited for)."""
    import subprocess

    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


@pytest.mark.skipif(os.geteuid() != 0, reason="running a process as another Unix user needs root")
def test_another_users_process_never_passes_for_the_dead_server(isolated_home, tmp_path):
    """A pid that now belongs to another user's process (named like a server, which anyone can do) is not our server."""
    import subprocess

    from skyhop.server.executor import Executor
    from skyhop.server.operations import make_operations
    from skyhop.server.services import resume
    from skyhop.state.store import StateStore

    nobody = 65534
    impostor = subprocess.Popen(
        ["/bin/sh", "-c", "sleep 120; true", "python3", "-m", "skyhop.server"], user=nobody, group=nobody, extra_groups=[], cwd="/",
    )
    try:
        deadline = time.monotonic() + 30
        while b"skyhop.server" not in Path(f"/proc/{impostor.pid}/cmdline").read_bytes():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with StateStore() as store:
            log = tmp_path / "down.log"
            log.touch()
            store.create_request("down", {"cluster": "nothing-here", "purge": False}, cluster="nothing-here", log_path=str(log), request_id="held", server_pid=impostor.pid)
            store.start_request("held", impostor.pid)
            executor = Executor(store, make_operations(store))
            try:
                assert resume.resume_orphans(store, executor).resumed == ("held",)
                while executor.is_active("held"):
                    assert time.monotonic() < deadline + 60
                    time.sleep(0.05)
            finally:
                executor.shutdown()
            assert store.get_request("held").status == "SUCCEEDED"
    finally:
        impostor.kill()
        impostor.wait()
