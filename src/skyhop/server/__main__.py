"""`python -m skyhop.server`: run the API server (what `skyhop api start` spawns).

Binds first, then publishes `server.json` (url, pid, token; mode 0600) so a
client that sees the file can connect at once; removes it on a clean exit.
With `--workers N`, N such servers share the port (server/workers.py); SIGTERM
drains (server/drain.py): work in flight is handed to the other processes.
Requests that a previous, dead server left unfinished are resumed under their
ids (or failed, saying why: services/resume.py) before the first client is
served; finished requests past their retention are deleted now and every hour.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import secrets
import signal
import socket
import sys
import threading
import time

from skyhop import __version__, paths


def write_info(host: str, port: int, token: str, start: str | None) -> None:
    """Publish the server's address and token; `start` is the client's name for this start (client/server_process.py)."""
    info = {"url": f"http://{host}:{port}", "pid": os.getpid(), "token": token, "version": __version__, "started_at": time.time(), "start": start}
    path = paths.server_info_file()
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(info, f)
    os.replace(tmp, path)


def remove_info() -> None:
    path = paths.server_info_file()
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m skyhop.server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--workers", type=int, default=1, help="server processes sharing the port (SO_REUSEPORT), each with its own controllers")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # one of --workers' processes (server/workers.py)
    parser.add_argument("--ready-fd", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    # Everything the server writes (state DB and its WAL, request logs, its own log,
    # local clusters' files) is the owner's alone, not only behind a 0700 directory.
    os.umask(0o077)
    start = os.environ.pop("SKYHOP_API_SERVER_START", None)  # not handed on to the processes the server starts
    paths.private_dir(paths.api_dir())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if args.workers > 1:
        sys.exit(_supervise(args, start))
    import uvicorn

    from skyhop.config import load_config
    from skyhop.identity import current_user
    from skyhop.server import drain, workers
    from skyhop.server import settings as server_settings
    from skyhop.server.app import create_app
    from skyhop.server.auth import principal
    from skyhop.server.middleware import LocalToken
    from skyhop.server.services import adoption, resume, retention
    from skyhop.state.store import StateStore

    settings = server_settings.from_config(load_config().get("api_server"))
    store = StateStore()
    if args.worker:
        workers.die_with_parent()
        token = sys.stdin.readline().strip()  # from the parent, on a pipe: never in argv or the environment
        sock = workers.reuse_port_socket(args.host, args.port, listen=True)
    else:
        token = secrets.token_urlsafe(24)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.host, args.port))
        sock.listen(128)
        sock.set_inheritable(False)
    app = create_app(store, LocalToken(token, principal.local(current_user())), settings, controllers=True)
    ttl = adoption.lease_ttl_s()
    adoption.join(store, ttl)
    accepts = adoption.accepting(app.state.authenticator.local_user)
    resume.resume_orphans(store, app.state.executor, accepts)
    stop_sweeping = threading.Event()
    retention.start(store, settings.request_retention_s, stop_sweeping)
    adoption.start(store, app.state.executor, ttl, stop_sweeping, accepts)
    # A process one of several (or reachable from elsewhere) turns unready before it closes its port, and gives
    # calls in flight `drain_s`; a laptop's own server keeps its quick stop (its clients are the CLI, which re-attaches).
    shared = args.worker or args.host not in ("127.0.0.1", "localhost", "::1")
    drain_s = settings.drain_s if shared else min(settings.drain_s, 2.0)
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=math.ceil(drain_s))
    server = uvicorn.Server(config)
    drainer = drain.Drain(
        app, store, app.state.executor, drain_s=drain_s, notice_s=settings.drain_notice_s if shared else 0.0, ttl_s=ttl, stop_sweeping=stop_sweeping,
    )
    if args.ready_fd is not None:
        os.write(args.ready_fd, b"1")
        os.close(args.ready_fd)
    if not args.worker:
        write_info(args.host, sock.getsockname()[1], token, start)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        drain.serve(server, [sock], drainer)
    finally:
        if not args.worker:
            remove_info()
        stop_sweeping.set()
        app.state.executor.shutdown()
    if drainer.started:
        # Everything is handed over and recorded: end now. Requests released to the other processes may still run
        # in threads here (they must not run beside their new owner), and the interpreter's own shutdown (joining
        # threads, collecting a large heap) took seconds that a stopping server has no use for.
        logging.shutdown()
        os._exit(0)


def _supervise(args: argparse.Namespace, start: str | None) -> int:
    """`--workers N`: the parent of N worker processes (server/workers.py); publishes server.json in its own name."""
    from skyhop.server import workers

    token = secrets.token_urlsafe(24)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        return workers.supervise(args.host, args.port, args.workers, token, lambda port: write_info(args.host, port, token, start))
    finally:
        remove_info()


if __name__ == "__main__":
    main()
