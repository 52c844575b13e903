"""`python -m skyhop.server`: run the API server (what `skyhop api start` spawns).

Binds first, then publishes `server.json` (url, pid, token; mode 0600) so a
client that sees the file can connect at once; removes it on a clean exit.

Single-user mode (the default) trusts whoever holds server.json's token, so it
listens on loopback only. `--team` takes users' tokens from the state database
(server/auth/tokens.py) and may listen anywhere; its server.json carries no
token (only url and pid, so `skyhop api stop` stops it and no single-user
server starts beside it on the same home). A team server with no enabled admin
makes user `admin` and prints its token once, on stdout, never to the log.
Requests that a previous, dead server left unfinished are resumed under their
ids (or failed, saying why: services/resume.py) before the first client is
served; finished requests past their retention are deleted now and every hour.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import secrets
import signal
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING

from skyhop import __version__, paths

if TYPE_CHECKING:
    from skyhop.server.middleware import Authenticator
    from skyhop.state.store import StateStore

#: The line a team server prints on stdout once it is ready to serve (`skyhop api start --team` reads up to it).
TEAM_READY = "skyhop API server (team mode) listening on"


def write_info(host: str, port: int, token: str | None, start: str | None) -> None:
    """Publish the server's address and token (None: a team server's); `start` is the client's name for this start
    (client/server_process.py)."""
    info: dict[str, object] = {"url": f"http://{_url_host(host)}:{port}", "pid": os.getpid(), "version": __version__, "started_at": time.time(),
                               "start": start}
    if token is None:
        info["mode"] = "team"
    else:
        info["token"] = token
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


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _refuse(message: str) -> None:
    print(f"Error: {message}", file=sys.stderr)
    sys.exit(2)


def _team_db(url: str | None) -> None:
    """`--db URL` becomes SKYHOP_DB_URL, so every part of the server (and what it starts) uses that database."""
    if url is None:
        return
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        _refuse(f"--db {url!r} is not a database URL (e.g. postgresql+psycopg://user@host/skyhop).")
    if parsed.password:
        _refuse("--db holds a password, and a command line is visible to every user of the machine (ps). "
                "Put the URL in SKYHOP_DB_URL instead, or the password in ~/.pgpass.")
    os.environ["SKYHOP_DB_URL"] = url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m skyhop.server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--team", action="store_true", help="users' tokens from the state database; may listen on any address")
    parser.add_argument("--new-admin-token", action="store_true", help="team mode: mint a token for user admin (re-enabled as an admin) "
                        "and print it once, e.g. when the first one was lost")
    parser.add_argument("--db", default=None, help="the state database URL (team mode; default SKYHOP_DB_URL, else SQLite in SKYHOP_HOME)")
    args = parser.parse_args(argv)
    if not args.team and not loopback(args.host):
        _refuse(f"A single-user API server listens on loopback only, not {args.host}: it trusts whoever holds its server.json, "
                "so anyone who can reach the port would need no more than that file. To share a server, start it with "
                "--team (users, tokens and roles from the state database; `skyhop api start --team --host ADDRESS`).")
    if (args.db is not None or args.new_admin_token) and not args.team:
        _refuse("--db and --new-admin-token are for a team server (--team); a single-user server uses SKYHOP_DB_URL or SQLite in SKYHOP_HOME.")
    if args.team:
        _team_db(args.db)

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
    token: str | None = None
    if args.team:
        authenticator: Authenticator = _team_authenticator(store, new_admin_token=args.new_admin_token)
    else:
        token = secrets.token_urlsafe(24)
        authenticator = LocalToken(token, principal.local(current_user()))
    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(128)
    sock.set_inheritable(False)
    app = create_app(store, authenticator, settings, controllers=True)
    app.state.job_access.bind(args.host, sock.getsockname()[1])  # before resumed launches hand it to jobs
    resume.resume_orphans(store, app.state.executor)
    stop_sweeping = threading.Event()
    retention.start(store, settings.request_retention_s, stop_sweeping)
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    write_info(args.host, sock.getsockname()[1], token, start)
    if args.team:
        print(f"{TEAM_READY} http://{_url_host(args.host)}:{sock.getsockname()[1]}", flush=True)
        if start is not None:  # started by `skyhop api start`, which read stdout up to here: the rest goes to the log
            os.dup2(2, 1)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        server.run(sockets=[sock])
    finally:
        remove_info()
        stop_sweeping.set()
        app.state.executor.shutdown()


def _team_authenticator(store: StateStore, *, new_admin_token: bool) -> Authenticator:
    """Users' tokens from the state database; with no enabled admin yet (or when asked), user `admin` and a token of
    its, printed once on stdout."""
    from skyhop.server.auth.tokens import TeamTokens
    from skyhop.state import pepper
    from skyhop.state.users import Users

    users = Users(store, pepper.load())
    new = users.bootstrap_admin(force=new_admin_token)
    if new is not None:
        why = "As asked (--new-admin-token): a new token for user 'admin'." if new_admin_token else "No admin user yet: made user 'admin'."
        print(
            f"{why} Its API token (shown once, never logged; keep it safe):\n\n    {new.secret}\n\n"
            "Log in with `skyhop api login URL` and make users with `skyhop users create NAME`.",
            flush=True,
        )
    return TeamTokens(users, store)


if __name__ == "__main__":
    main()
