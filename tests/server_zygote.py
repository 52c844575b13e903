"""API servers for the suite's CLI calls, forked from a process that has already imported the server.

The suite starts some 270 API servers (one per end-to-end test, more where a test kills one), and
each fresh `python -m skyhop.server` spends 1.3-1.6 CPU s importing FastAPI, pydantic, SQLAlchemy
and skyhop's server modules before it serves anything: a fifth of the suite's CPU on a 2-core
machine. A zygote per test worker imports all of that once; every server after that is a fork of it
that then runs `skyhop.server.__main__.main` exactly as `python -m skyhop.server` does, with the
starting command's environment, working directory and standard streams.

The product's seam is `SKYHOP_API_SERVER_COMMAND` (client/server_process.py): the CLI runs this
file's `start` verb in place of `python -m skyhop.server`. That light process hands its
environment, working directory and stdin/stdout/stderr (over SCM_RIGHTS) to the zygote, which forks
the server, and then lives as long as the server and exits with its exit status, so the CLI's
"the server process ended during its start" check sees what it would see. Without a zygote (its
socket is gone) `start` becomes `python -m skyhop.server` itself.

What stays real: every line of the server after its imports; servers that tests start themselves
(`python -m skyhop.server`), and the `fresh_home` tests' first-run servers, which do not use the
zygote. The zygote's command line carries the word `skyhop.server` because that is how a server
recognises another live server (server/services/resume.py `server_alive`).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

_MAX_MESSAGE = 1 << 20


def _preload() -> None:
    """What every server imports on start, and what most import on their first launch."""
    import uvicorn  # noqa: F401

    import skyhop.catalog.index  # noqa: F401
    import skyhop.config  # noqa: F401
    import skyhop.execution.launch  # noqa: F401
    import skyhop.optimizer.search  # noqa: F401
    import skyhop.planning.failover  # noqa: F401
    import skyhop.planning.plan  # noqa: F401
    import skyhop.providers.local.provider  # noqa: F401
    import skyhop.providers.vm  # noqa: F401
    import skyhop.server.__main__  # noqa: F401
    import skyhop.server.app  # noqa: F401
    import skyhop.server.services.resume  # noqa: F401
    import skyhop.server.services.retention  # noqa: F401
    import skyhop.server.settings  # noqa: F401
    import skyhop.state.locks  # noqa: F401
    import skyhop.state.pools  # noqa: F401
    import skyhop.state.store  # noqa: F401


def serve(path: str) -> None:
    """Accept starts on the unix socket `path` until killed; reap each server and tell its starter how it ended."""
    _preload()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chmod(path, 0o600)
    listener.listen(64)
    starters: dict[int, socket.socket] = {}
    import selectors

    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake the selector below
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    selector.register(0, selectors.EVENT_READ)  # the worker's pipe: its end (the worker gone, even killed) ends the zygote
    print("ready", flush=True)
    while True:
        for key, _ in selector.select():
            if key.fileobj == 0:
                if not os.read(0, 4096):
                    os._exit(0)
            elif key.fileobj is listener:
                conn, _ = listener.accept()
                pid = _fork_server(conn, [listener, *starters.values()], selector, (wake_r, wake_w))
                if pid is None:
                    conn.close()
                else:
                    starters[pid] = conn
            else:
                os.read(wake_r, 4096)
        while starters:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            conn = starters.pop(pid, None)
            if conn is not None:
                try:
                    conn.sendall(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
                except OSError:
                    pass
                conn.close()


def _fork_server(conn: socket.socket, others: list[socket.socket], selector, wake: tuple[int, int]) -> int | None:
    """Fork a server for the start request on `conn`; the server keeps none of the zygote's own descriptors."""
    try:
        message, fds, _, _ = socket.recv_fds(conn, _MAX_MESSAGE, 3)
        request = json.loads(message)
    except (OSError, ValueError):
        return None
    if len(fds) != 3 or _interpreter_env(request["env"]) != _interpreter_env(os.environ):
        # The interpreter's own settings (PYTHONPATH: a test's plugin site...) took effect when the zygote
        # started; a start that asks for others gets no fork, and its starter runs `python -m skyhop.server`.
        for fd in fds:
            os.close(fd)
        conn.sendall(b'{"pid": null}\n')
        return None
    pid = os.fork()
    if pid == 0:  # the server
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            selector.close()
            for closing in (conn, *others):
                closing.close()
            for fd in wake:
                os.close(fd)
            os.setsid()
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
                os.close(fd)
            os.chdir(request["cwd"])
            os.environ.clear()
            os.environ.update(request["env"])
            sys.argv = ["-m", *request["argv"]]
            from skyhop.server.__main__ import main

            main(request["argv"])
            code = 0
        except SystemExit as exiting:
            code = exiting.code if isinstance(exiting.code, int) else (0 if exiting.code is None else 1)
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    for fd in fds:
        os.close(fd)
    conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
    return pid


def _interpreter_env(env) -> dict[str, str]:
    return {name: value for name, value in env.items() if name.startswith("PYTHON")}


def start(path: str, argv: list[str]) -> None:
    """Have the zygote at `path` fork a server with this process's environment, directory and streams; wait for it."""
    fallback = [sys.executable, "-m", "skyhop.server", *argv]
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
        request = {"env": dict(os.environ), "cwd": os.getcwd(), "argv": argv}
        socket.send_fds(conn, [json.dumps(request).encode()], [0, 1, 2])
        reader = conn.makefile("rb")
        pid = json.loads(reader.readline())["pid"]
        if not isinstance(pid, int):
            raise ValueError("no fork for this start")
    except (OSError, ValueError, KeyError):
        conn.close()
        os.execv(sys.executable, fallback)
    def stop_server(*_: object) -> None:  # a stop of this process (the CLI's start timeout) stops the server too
        try:
            os.kill(pid, signal.SIGTERM)
        finally:
            os._exit(143)

    signal.signal(signal.SIGTERM, stop_server)
    line = reader.readline()
    sys.exit(json.loads(line)["exit"] if line else 1)


class Zygote:
    """One worker's zygote process and the command that starts servers through it."""

    def __init__(self, directory: Path) -> None:
        self.socket = str(directory / "zygote.sock")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SKYHOP_")}
        self.process = subprocess.Popen([sys.executable, __file__, "serve", self.socket, "skyhop.server"], env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True)
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != b"ready":
            raise RuntimeError("the API server zygote did not start")
        self.command = f"{sys.executable} {__file__} start {self.socket}"

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


if __name__ == "__main__":
    del sys.path[0]  # this file's directory (tests/): a server's sys.path holds none of the suite's modules
    if sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        start(sys.argv[2], sys.argv[3:])
