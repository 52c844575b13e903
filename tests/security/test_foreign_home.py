"""A SKYHOP_HOME (or its server.json) that another user owns is refused, never adopted.

Whoever owns the directory can read the state and the request logs, or swap
`api/server.json` for the address of a server of their own, which would then
receive every request, `--secret` values included (found in review).
"""

from __future__ import annotations

import json
import os
import socket
import threading

from helpers import run_cli


def test_a_home_created_by_another_user_is_refused_and_left_alone(second_user, isolated_home):
    planted = second_user.home / "planted"  # e.g. a predictable world-writable /tmp path, made first by them
    done = second_user.run(["mkdir", "-m", "777", str(planted)])
    assert done.returncode == 0 and planted.stat().st_uid == second_user.uid
    done = run_cli(isolated_home, "status", SKYHOP_HOME=str(planted))
    assert done.returncode != 0 and "belongs to another user" in done.stderr and "Traceback" not in done.stderr
    assert planted.stat().st_mode & 0o777 == 0o777  # not chmod'ed into "ours"
    assert not (planted / "state.db").exists() and not (planted / "api").exists()


def test_a_planted_server_file_receives_nothing(second_user, tmp_path, isolated_home):
    """The attacker's fake API server must get no request (and so no secret) at all."""
    home = tmp_path / "home-of-mine"
    (home / "api").mkdir(parents=True, mode=0o700)
    home.chmod(0o755)  # a careless mode: the attacker can reach api/ through it
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    info = home / "api" / "server.json"
    info.write_text(json.dumps({"url": f"http://127.0.0.1:{port}", "pid": os.getpid(), "token": "x"}))
    os.chown(info, second_user.uid, second_user.gid)
    received: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            received.append(conn.recv(65536))
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        done = run_cli(isolated_home, "launch", "-y", "--secret", "TOK", "echo hi", SKYHOP_HOME=str(home), TOK="VictimSecret42")
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
    assert done.returncode != 0 and "belongs to another user" in done.stderr
    assert received == []
