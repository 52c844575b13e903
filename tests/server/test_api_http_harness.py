"""The raw-HTTP fixtures' own stop (tests/server/api_http.py): no server outlives its test.

With the suite's zygote, `start_server`'s process is a stand-in (tests/zygote.py `start`): it passes a
SIGTERM on to the server but cannot pass on a SIGKILL, and the server is not its child. A stop that
gives up on a server deaf to SIGTERM must therefore kill the server itself, not only the stand-in.
"""

from __future__ import annotations

import os
import signal
import sys
import textwrap

from e2e_support import pid_gone, wait_for

from server.api_http import start_server, stop_server

# A stand-in as the zygote's: the "server" (here a child that ignores SIGTERM and never serves) writes
# server.json with its own pid; the stand-in forwards SIGTERM to it and exits when it has ended.
STAND_IN = textwrap.dedent("""
    import json, os, signal, sys, time
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        api = os.path.join(os.environ["SKYHOP_HOME"], "api")
        os.makedirs(api, exist_ok=True)
        with open(os.path.join(api, "server.json.tmp"), "w") as f:
            json.dump({"url": "http://127.0.0.1:9", "token": "t", "pid": os.getpid()}, f)
        os.rename(os.path.join(api, "server.json.tmp"), os.path.join(api, "server.json"))
        while True:
            time.sleep(60)
    signal.signal(signal.SIGTERM, lambda *_: os.kill(pid, signal.SIGTERM))
    while True:
        try:
            sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
        except InterruptedError:
            pass
""")


def test_a_server_deaf_to_sigterm_is_killed_not_left_behind_its_stand_in(tmp_path, monkeypatch):
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)
    monkeypatch.setenv("SKYHOP_API_SERVER_COMMAND", f"{sys.executable} {script}")
    proc, server = start_server(tmp_path)
    assert server.pid != proc.pid
    try:
        stop_server(proc, server, grace=1)
        assert proc.poll() is not None
        wait_for(lambda: pid_gone(server.pid), 30, "the server itself gone")
    finally:
        if not pid_gone(server.pid):
            os.kill(server.pid, signal.SIGKILL)
