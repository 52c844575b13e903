"""The daemon's socket (skyhop_agent/channel.py), spoken to directly: verbs, logs, bad input, restarts."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from agent_harness import Agent, gone, poll

from skyhop_agent.channel import MAX_REQUEST, connect

GREETING = {"skyhop_agent": "0.1.0", "protocol": 1}


def _socket_path(cluster: Agent) -> str:
    return str(cluster.base / "agent.sock")


def _connect(cluster: Agent) -> socket.socket:
    """A connection that got the greeting (waits for a just-started daemon to bind)."""

    def attempt() -> socket.socket | None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connect(sock, _socket_path(cluster))
        except OSError:
            sock.close()
            return None
        return sock

    sock = poll(attempt, what="the daemon's socket")
    sock.settimeout(30)
    assert json.loads(_line(sock)) == GREETING
    return sock


def _line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(1)
        assert chunk, f"closed before a line ended: {data!r}"
        data += chunk
    return data[:-1]


def _rest(sock: socket.socket) -> bytes:
    out = b""
    for chunk in iter(lambda: sock.recv(65536), b""):
        out += chunk
    return out


def ask(cluster: Agent, verb: str, *args: str, input: str | None = None) -> dict[str, Any]:
    """One request; the reply object (`{"ok": ...}` or `{"error": ...}`)."""
    with _connect(cluster) as sock:
        sock.sendall(json.dumps({"verb": verb, "args": list(args), "input": input}).encode() + b"\n")
        reply = json.loads(_line(sock))
        assert _rest(sock) == b""
    return reply


def ok(cluster: Agent, verb: str, *args: str, input: str | None = None) -> Any:
    reply = ask(cluster, verb, *args, input=input)
    assert "ok" in reply, reply
    return reply["ok"]


def log_bytes(cluster: Agent, *args: str) -> bytes:
    with _connect(cluster) as sock:
        sock.sendall(json.dumps({"verb": "logs", "args": list(args)}).encode() + b"\n")
        header = json.loads(_line(sock))
        assert "ok" in header, header
        return _rest(sock)


def _refused(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            connect(sock, path)
        except ConnectionRefusedError:
            return True
    return False


def _threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def test_verbs_on_the_socket_answer_as_the_cli_does(cluster: Agent) -> None:
    pid = cluster.ok("daemon-start")["pid"]
    spec = json.dumps({"name": "a", "run": "echo hi"})
    submitted = ok(cluster, "submit", "--spec", "-", input=spec)
    job_id = submitted["job_id"]
    assert submitted["job"]["name"] == "a"
    cluster.wait(job_id)
    assert ok(cluster, "status", str(job_id)) == cluster.ok("status", str(job_id))
    assert ok(cluster, "queue") == cluster.ok("queue")
    assert ok(cluster, "autostop", "--idle-minutes", "30") == {**cluster.ok("autostop"), "set_at": ok(cluster, "autostop")["set_at"]}
    assert ok(cluster, "autostop", "--cancel")["idle_minutes"] is None

    health = ok(cluster, "health")
    assert (health["daemon_pid"], health["daemon_alive"], health["channel"]) == (pid, True, True)
    # The heartbeat: the daemon's last tick, as the node's clock sees it (no skew to correct).
    assert health["tick_age_s"] >= 0 and health["tick_s"] == 0.5 and health["tick_at"] > submitted["job"]["submitted_at"] - 3600

    sleeper = ok(cluster, "submit", "--spec", "-", input=json.dumps({"run": "sleep 300"}))["job_id"]
    assert ok(cluster, "cancel", str(sleeper)) == {"cancelled": [sleeper], "already_done": []}
    assert ok(cluster, "status", str(sleeper))["jobs"][0]["status"] == "CANCELLED"
    # Refusals are the CLI's messages, as error replies.
    assert ask(cluster, "status", "999") == {"error": cluster.error("status", "999")}
    too_big = json.dumps({"run": "true", "cpus": 64})
    assert ask(cluster, "submit", "--spec", "-", input=too_big) == {"error": cluster.error("submit", "--spec", "-", input=too_big)}


def test_a_socket_submit_is_driven_and_reaped_by_the_daemon(cluster: Agent) -> None:
    pid = cluster.ok("daemon-start")["pid"]
    job_id = ok(cluster, "submit", "--spec", "-", input=json.dumps({"run": "true"}))["job_id"]
    assert cluster.wait(job_id)["status"] == "SUCCEEDED"
    poll(lambda: not zombie_children(pid), what="the daemon to reap the driver its socket started")


def zombie_children(pid: int) -> list[str]:
    """The children of `pid` that ended and were not reaped."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [c for c in children if Path(f"/proc/{c}/stat").exists() and ") Z" in Path(f"/proc/{c}/stat").read_text()]


def test_logs_on_the_socket_are_the_cli_bytes(cluster: Agent) -> None:
    cluster.ok("daemon-start")
    # Not UTF-8, a 200 KiB line without a newline, a `\r` bar, and a last line without one.
    script = r"""printf 'caf\351 \377\n'; head -c 204800 /dev/zero | tr '\0' x; printf '\n'
for i in 1 2 3; do printf '\r%s%%' $i; sleep 0.1; done; printf '\nend'"""
    job_id = ok(cluster, "submit", "--spec", "-", input=json.dumps({"run": script}))["job_id"]
    followed = log_bytes(cluster, str(job_id), "--follow")
    assert followed == _cli_bytes(cluster, job_id)
    assert followed.startswith("caf\ufffd \ufffd\n".encode()) and followed.endswith(b"\r3%\nend") and len(followed) > 204800
    assert log_bytes(cluster, str(job_id), "--tail", "1") == _cli_bytes(cluster, job_id, "--tail", "1") == b"end"
    assert log_bytes(cluster, str(job_id), "--node", "0") == _cli_bytes(cluster, job_id, "--node", "0")


def _cli_bytes(cluster: Agent, job_id: int, *args: str) -> bytes:
    done = subprocess.run(cluster.argv("logs", str(job_id), *args), capture_output=True, env=cluster.env(), timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_followers_are_threads_and_a_hung_up_follower_ends(cluster: Agent) -> None:
    pid = cluster.ok("daemon-start")["pid"]
    job_id = ok(cluster, "submit", "--spec", "-", input=json.dumps({"run": "echo start; sleep 300"}))["job_id"]
    processes_before = len(Path(f"/proc/{pid}/task/{pid}/children").read_text().split())
    idle_threads = _threads(pid)
    followers = []
    for _ in range(40):
        sock = _connect(cluster)
        sock.sendall(json.dumps({"verb": "logs", "args": [str(job_id), "--follow"]}).encode() + b"\n")
        assert json.loads(_line(sock)) == {"ok": {"job_id": job_id}}
        followers.append(sock)
    for sock in followers:
        assert sock.recv(6) == b"start\n"
    assert _threads(pid) >= idle_threads + 40
    # No process per follower: the daemon's children are the job's driver, as before.
    assert len(Path(f"/proc/{pid}/task/{pid}/children").read_text().split()) == processes_before
    assert cluster.ok("health")["daemon_alive"]
    for sock in followers:
        sock.close()  # the job prints nothing more: only the hang-up ends these follows
    poll(lambda: _threads(pid) <= idle_threads, what="the followers' threads to end")
    ok(cluster, "cancel", str(job_id))


def test_a_follow_ends_when_the_job_does(cluster: Agent) -> None:
    cluster.ok("daemon-start")
    job_id = ok(cluster, "submit", "--spec", "-", input=json.dumps({"run": "sleep 0.5; echo done"}))["job_id"]
    assert log_bytes(cluster, str(job_id), "--follow") == b"done\n"
    assert ok(cluster, "status", str(job_id))["jobs"][0]["status"] == "SUCCEEDED"


@pytest.mark.parametrize(
    "payload, expected",
    [
        (b"not json\n", "not JSON"),
        (b"[1, 2]\n", '"verb"'),
        (b'{"verb": 7}\n', '"verb"'),
        (b'{"verb": "status", "args": "1"}\n', "list of strings"),
        (b'{"verb": "status", "args": [1]}\n', "list of strings"),
        (b'{"verb": "daemon-stop"}\n', "Unknown verb"),
        (b'{"verb": "run-job", "args": ["1"]}\n', "Unknown verb"),
        (b'{"verb": "status", "args": ["--help"]}\n', "bad arguments"),
        (b'{"verb": "status", "args": ["x"]}\n', "invalid int"),
        (b'{"verb": "queue", "args": ["--base", "/"]}\n', "unrecognized"),
        (b'{"verb": "submit", "args": ["--spec", "/etc/passwd"]}\n', "input"),
        (b'{"verb": "submit", "args": ["--spec", "-"], "input": "{"}\n', "not valid JSON"),
        (b'{"verb": "logs", "args": ["1", "--tail", "-1"]}\n', "--tail"),
        (b'\xff\xfe\n', "not JSON"),
    ],
)
def test_bad_requests_get_an_error_line_and_the_daemon_lives(cluster: Agent, payload: bytes, expected: str) -> None:
    pid = cluster.ok("daemon-start")["pid"]
    with _connect(cluster) as sock:
        sock.sendall(payload)
        reply = json.loads(_line(sock))
        assert _rest(sock) == b""
    assert expected in reply["error"], reply
    assert not gone(pid)
    assert ok(cluster, "health")["daemon_alive"]


def test_a_huge_or_unfinished_request_is_refused(cluster: Agent) -> None:
    pid = cluster.ok("daemon-start")["pid"]
    with _connect(cluster) as sock:
        try:
            sock.sendall(b"x" * (MAX_REQUEST + 65536))
        except OSError:
            pass  # the daemon may hang up before taking it all; what it said first still counts
        reply = json.loads(_line(sock))
    assert "longer than" in reply["error"]
    with _connect(cluster) as sock:
        sock.sendall(b'{"verb": "health"')
        sock.shutdown(socket.SHUT_WR)
        assert "before its newline" in json.loads(_line(sock))["error"]
    with _connect(cluster):
        pass  # connect and hang up without a word
    assert not gone(pid)
    assert ok(cluster, "health")["daemon_alive"]


def test_socket_is_the_owners_alone(cluster: Agent) -> None:
    cluster.ok("daemon-start")
    _connect(cluster).close()
    assert stat.S_IMODE(os.stat(_socket_path(cluster)).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(cluster.base).st_mode) == 0o700


def test_a_restarted_daemon_serves_again_and_a_killed_one_leaves_no_trap(cluster: Agent) -> None:
    pid = cluster.ok("daemon-start")["pid"]
    ok(cluster, "health")
    cluster.ok("daemon-stop")
    poll(lambda: gone(pid), what="the daemon to stop")
    assert not os.path.exists(_socket_path(cluster))  # a clean stop removes its socket
    pid = cluster.ok("daemon-start")["pid"]
    assert ok(cluster, "health")["daemon_pid"] == pid
    os.kill(pid, signal.SIGKILL)
    # The stale socket file refuses (once the dead daemon's last thread let go of it); nothing hangs.
    poll(lambda: _refused(_socket_path(cluster)), what="the dead daemon's socket to refuse")
    assert os.path.exists(_socket_path(cluster))
    pid = cluster.ok("daemon-start")["pid"]
    assert ok(cluster, "health")["daemon_pid"] == pid  # the new daemon rebinds over the stale file


def test_many_requests_leave_no_open_files_in_the_daemon(cluster: Agent) -> None:
    """Each request's job-table connection is closed when it is answered, not when the GC gets to it."""
    pid = cluster.ok("daemon-start")["pid"]
    job_id = ok(cluster, "submit", "--spec", "-", input=json.dumps({"run": "echo x"}))["job_id"]
    cluster.wait(job_id)
    ok(cluster, "status", str(job_id))
    before = len(os.listdir(f"/proc/{pid}/fd"))
    for i in range(200):
        if i % 2:
            ok(cluster, "status", str(job_id))
        else:
            assert log_bytes(cluster, str(job_id)) == b"x\n"
    # A few for whatever the daemon's tick has open at the moment; without closing, ~+200.
    assert len(os.listdir(f"/proc/{pid}/fd")) <= before + 4


def test_a_functions_session_on_the_socket_and_its_refusals(cluster: Agent) -> None:
    from skyhop_agent import fnwire
    from skyhop_agent.marked import marked_pids
    from skyhop_agent.nodeexec import NODE_MARKER

    cluster.ok("daemon-start")
    assert '"slots" must be' in ask(cluster, "functions", input='{"slots": 0}')["error"]
    with _connect(cluster) as sock:
        sock.sendall(json.dumps({"verb": "functions", "args": [], "input": json.dumps({"slots": 2})}).encode() + b"\n")
        [worker] = json.loads(_line(sock))["ok"]["workers"]
        assert worker["rank"] == 0 and worker["slots"] == 2
        sock.sendall(fnwire.encode(fnwire.Frame(fnwire.PING, 0, 77)))
        pong = fnwire.read_frame(sock.makefile("rb"))
        assert pong is not None and (pong.kind, pong.rank, pong.call_id) == (fnwire.PONG, 0, 77)
        assert marked_pids(NODE_MARKER, str(cluster.base)) != []
    poll(lambda: not [pid for pid in marked_pids(NODE_MARKER, str(cluster.base)) if b"fnworker" in Path(f"/proc/{pid}/cmdline").read_bytes()],
         what="the worker to end with the session")
    (cluster.base / "stopped").write_text("{}")
    assert "is stopped" in ask(cluster, "functions", input="{}")["error"]
