"""`python -m skyhop.server`: run the API server (what `skyhop api start` spawns).

Binds first, then publishes `server.json` (url, pid, token; mode 0600) so a
client that sees the file can connect at once; removes it on a clean exit.
Requests that a previous, dead server left unfinished are resumed under their
ids (or failed, saying why: services/resume.py) before the first client is
served; finished requests past their retention are deleted now and every hour.
"""

from __future__ import annotations

import argparse
import json
import logging
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
    from skyhop.server.api_version import API_VERSION

    info = {
        "url": f"http://{host}:{port}", "pid": os.getpid(), "token": token, "version": __version__, "api_version": API_VERSION,
        "started_at": time.time(), "start": start,
    }
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
    args = parser.parse_args(argv)

    # Everything the server writes (state DB and its WAL, request logs, its own log,
    # local clusters' files) is the owner's alone, not only behind a 0700 directory.
    os.umask(0o077)
    start = os.environ.pop("SKYHOP_API_SERVER_START", None)  # not handed on to the processes the server starts
    paths.private_dir(paths.api_dir())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    import uvicorn

    from skyhop.config import load_config
    from skyhop.identity import current_user
    from skyhop.server import settings as server_settings
    from skyhop.server.app import create_app
    from skyhop.server.auth import principal
    from skyhop.server.middleware import LocalToken
    from skyhop.server.services import resume, retention
    from skyhop.state.store import StateStore

    settings = server_settings.from_config(load_config().get("api_server"))
    store = StateStore()
    token = secrets.token_urlsafe(24)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(128)
    sock.set_inheritable(False)
    app = create_app(store, LocalToken(token, principal.local(current_user())), settings, controllers=True)
    resume.resume_orphans(store, app.state.executor)
    stop_sweeping = threading.Event()
    retention.start(store, settings.request_retention_s, stop_sweeping)
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    write_info(args.host, sock.getsockname()[1], token, start)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        server.run(sockets=[sock])
    finally:
        remove_info()
        stop_sweeping.set()
        app.state.executor.shutdown()


if __name__ == "__main__":
    main()
