"""API servers and CLI calls for the suite, forked from processes that have already imported them.

The suite starts some 270 API servers (one per end-to-end test, more where a test kills one) and some
1,400 CLI calls. A fresh `python -m skyhop.server` spends 1.3-1.6 CPU s importing FastAPI, pydantic,
SQLAlchemy and skyhop's server modules before it serves anything, and a fresh `python -m skyhop.cli.main`
0.1-0.15 CPU s on the interpreter and click before it does its one HTTP call: together a third of the
suite's CPU on a 2-core machine. Each test worker has two zygotes, one per kind, that import all of that
once; every server or CLI call after that is a fork that then runs `skyhop.server.__main__.main` or
`skyhop.cli.main.main` exactly as `python -m` does, with the caller's arguments, environment, working
directory and standard streams (passed over SCM_RIGHTS), and ends with its own exit status.

Servers: the product's seam is `SKYHOP_API_SERVER_COMMAND` (client/server_process.py): the CLI runs this
file's `start` verb in place of `python -m skyhop.server`. That light process hands its environment,
working directory and stdin/stdout/stderr to the zygote, which forks the server, and then lives as long
as the server and exits with its exit status, so the CLI's "the server process ended during its start"
check sees what it would see. Without a zygote (its socket is gone) `start` becomes `python -m
skyhop.server` itself.

CLI calls: the test's own helpers (`helpers.run_cli`, `e2e_support.Sky`) ask the CLI zygote directly
(`run`); the CLI's output comes back through pipes as `subprocess.run` would return it.

What stays real: every line of the server and the CLI after their imports; starts whose interpreter
settings (`PYTHON*`) differ from the zygote's other than by added PYTHONPATH entries (a fork could not
honour them: they run as `python -m`; added entries, a test's plugin site, go first on the fork's sys.path);
servers that tests start themselves, the `fresh_home` tests' first-run servers, the CLI under a
terminal or in the background (`Sky.popen`, pty tests), and tests of start-up itself (the import guard,
`--help` timings). A forked process's command line is its zygote's, which carries the word
`skyhop.server` or `skyhop.cli.main`: that is how a server recognises another live server
(server/services/resume.py `server_alive`).
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

_MAX_MESSAGE = 1 << 20


def _preload_server() -> None:
    """What every server imports on start, and what most import on their first launch."""
    # What uvicorn and anyio load by name once serving, the controllers the app starts, SQLite's dialect, and
    # the ORM's mapper set-up (done at a process's first query): a fifth of a short-lived server's own CPU.
    import alembic.command  # noqa: F401  (a first start in a fresh home migrates its state database)
    import alembic.runtime.migration  # noqa: F401
    import anyio._backends._asyncio  # noqa: F401
    import sqlalchemy.dialects.sqlite.pysqlite  # noqa: F401
    import uvicorn  # noqa: F401
    import uvicorn.lifespan.on  # noqa: F401
    import uvicorn.loops.auto  # noqa: F401
    import uvicorn.protocols.http.auto  # noqa: F401
    import uvicorn.protocols.websockets.auto  # noqa: F401
    from sqlalchemy.orm import configure_mappers

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
    import skyhop.server.controllers.jobs  # noqa: F401
    import skyhop.server.controllers.pools  # noqa: F401
    import skyhop.server.services.resume  # noqa: F401
    import skyhop.server.services.retention  # noqa: F401
    import skyhop.server.settings  # noqa: F401
    import skyhop.state.locks  # noqa: F401
    import skyhop.state.models  # noqa: F401
    import skyhop.state.pools  # noqa: F401
    import skyhop.state.store  # noqa: F401

    configure_mappers()


def _preload_cli() -> None:
    """The CLI and everything its verbs import lazily (the client, the task parser, YAML)."""
    import importlib
    import pkgutil

    import skyhop.cli
    import skyhop.client

    for package in (skyhop.cli, skyhop.client):
        for module in pkgutil.iter_modules(package.__path__, f"{package.__name__}."):
            importlib.import_module(module.name)


#: What a zygote of each kind imports first, and the module whose `main(argv)` its forks run.
KINDS = {"skyhop.server": (_preload_server, "skyhop.server.__main__"), "skyhop.cli.main": (_preload_cli, "skyhop.cli.main")}


def serve(path: str, kind: str) -> None:
    """Accept starts on the unix socket `path` until killed; reap each fork and tell its starter how it ended."""
    preload, main_module = KINDS[kind]
    preload()
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
                pid = _fork(conn, main_module, [listener, *starters.values()], selector, (wake_r, wake_w))
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


def _fork(conn: socket.socket, main_module: str, others: list[socket.socket], selector, wake: tuple[int, int]) -> int | None:
    """Fork a server or CLI call for the request on `conn`; the fork keeps none of the zygote's own descriptors."""
    try:
        message, fds, _, _ = socket.recv_fds(conn, _MAX_MESSAGE, 3)
        request = json.loads(message)
    except (OSError, ValueError):
        return None
    extra_path = _extra_path(request["env"])
    if len(fds) != 3 or extra_path is None:
        # The interpreter's own settings took effect when the zygote started; a start that asks for others
        # (but more PYTHONPATH entries, see `_extra_path`) gets no fork, and its starter runs `python -m` instead.
        for fd in fds:
            os.close(fd)
        conn.sendall(b'{"pid": null}\n')
        return None
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            # As a fresh interpreter has them (a zygote started from a background shell would pass on SIG_IGN).
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGQUIT, signal.SIG_DFL)
            selector.close()
            for closing in (conn, *others):
                closing.close()
            for fd in wake:
                os.close(fd)
            if main_module == "skyhop.server.__main__":
                os.setsid()  # as the CLI starts a server: in a session of its own
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
                os.close(fd)
            os.chdir(request["cwd"])
            os.environ.clear()
            os.environ.update(request["env"])
            if extra_path:
                sys.path[0:0] = [os.path.abspath(entry) for entry in extra_path]
                importlib.invalidate_caches()
            module = importlib.import_module(main_module)
            sys.argv = [module.__file__ or "-m", *request["argv"]]
            module.main(request["argv"])
            code = 0
        except SystemExit as exiting:
            code = exiting.code if isinstance(exiting.code, int) else (0 if exiting.code is None else 1)
            if isinstance(exiting.code, str):
                print(exiting.code, file=sys.stderr)
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            try:
                threading._shutdown()  # type: ignore[attr-defined]  # what the interpreter's own exit does: join
                atexit._run_exitfuncs()  # its threads, then run the exit functions
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


def _extra_path(env: dict[str, str]) -> list[str] | None:
    """The PYTHONPATH entries a start adds to the zygote's own (a test's plugin site): a fork puts them first
    on sys.path, where PYTHONPATH would have put them; None when the start's interpreter settings differ
    otherwise. Nothing the zygote imported comes from them: only plugins, found by entry point when asked."""
    mine, theirs = _interpreter_env(os.environ), _interpreter_env(env)
    mine_path, theirs_path = mine.pop("PYTHONPATH", ""), theirs.pop("PYTHONPATH", "")
    if mine != theirs:
        return None
    own = [entry for entry in mine_path.split(os.pathsep) if entry]
    wanted = [entry for entry in theirs_path.split(os.pathsep) if entry]
    if wanted[len(wanted) - len(own):] != own or len(wanted) < len(own):
        return None  # it drops or reorders what the zygote started with
    return wanted[: len(wanted) - len(own)]


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


def run(path: str, argv: list[str], env: dict[str, str], cwd: str | Path, timeout: float) -> subprocess.CompletedProcess[str] | None:
    """`python -m skyhop.cli.main ARGV` as `subprocess.run(capture_output=True, text=True)` runs it, forked by the
    CLI zygote at `path`; None when that zygote cannot fork it (gone, or other interpreter settings)."""
    import io
    import selectors
    import time

    deadline = time.monotonic() + timeout
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    stdin = os.open(os.devnull, os.O_RDONLY)
    try:
        conn.connect(path)
        socket.send_fds(conn, [json.dumps({"env": env, "cwd": str(cwd), "argv": argv}).encode()], [stdin, out_w, err_w])
        reader = conn.makefile("rb")
        pid = json.loads(reader.readline())["pid"]
    except (OSError, ValueError, KeyError):
        pid = None
    finally:
        for fd in (stdin, out_w, err_w):
            os.close(fd)
    if not isinstance(pid, int):
        conn.close()
        os.close(out_r)
        os.close(err_r)
        return None
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    with selectors.DefaultSelector() as selector:
        for fd in chunks:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            left = deadline - time.monotonic()
            ready = selector.select(max(left, 0)) if left > 0 else []
            if not ready:
                os.kill(pid, signal.SIGKILL)
                for fd in chunks:
                    os.close(fd)
                conn.close()
                raise subprocess.TimeoutExpired(["skyhop", *argv], timeout)
            for key, _ in ready:
                data = os.read(key.fd, 1 << 16)
                if data:
                    chunks[key.fd].append(data)
                else:
                    selector.unregister(key.fd)
                    os.close(key.fd)
    conn.settimeout(max(deadline - time.monotonic(), 1.0))
    try:
        line = reader.readline()
    except OSError:  # its streams closed but it has not ended in time
        os.kill(pid, signal.SIGKILL)
        raise subprocess.TimeoutExpired(["skyhop", *argv], timeout) from None
    finally:
        conn.close()
    code = json.loads(line)["exit"] if line else 1

    def text(fd: int) -> str:  # decoded and newline-translated as subprocess's text mode does
        return io.TextIOWrapper(io.BytesIO(b"".join(chunks[fd]))).read()

    return subprocess.CompletedProcess(["skyhop", *argv], code, text(out_r), text(err_r))


class Zygote:
    """One worker's zygote process of one kind (a `KINDS` key)."""

    def __init__(self, directory: Path, kind: str) -> None:
        self.socket = str(directory / f"{kind}.sock")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SKYHOP_")}
        self.process = subprocess.Popen([sys.executable, __file__, "serve", self.socket, kind], env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True)
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != b"ready":
            raise RuntimeError(f"the {kind} zygote did not start")
        #: For the server kind: the SKYHOP_API_SERVER_COMMAND that starts servers through it.
        self.command = f"{sys.executable} {__file__} start {self.socket}"

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


#: This worker's CLI zygote's socket while the suite runs (conftest's `zygotes`); None: CLI calls are `python -m`.
CLI_SOCKET: str | None = None


def cli(argv: list[str], env: dict[str, str], cwd: str | Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`skyhop ARGV` in its own process, as `subprocess.run(capture_output=True, text=True)` runs it: a fork of
    the CLI zygote where there is one, else `python -m skyhop.cli.main`."""
    where = cwd if cwd is not None else os.getcwd()
    if CLI_SOCKET is not None:
        done = run(CLI_SOCKET, argv, env, where, timeout)
        if done is not None:
            return done
    return subprocess.run([sys.executable, "-m", "skyhop.cli.main", *argv], capture_output=True, text=True, env=env, cwd=where, timeout=timeout)


if __name__ == "__main__":
    del sys.path[0]  # this file's directory (tests/): a server's sys.path holds none of the suite's modules
    if sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3])
    else:
        start(sys.argv[2], sys.argv[3:])
