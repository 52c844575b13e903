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
served, and any that another server process on the same database leaves are
adopted while this one runs (services/adoption.py); finished requests past
their retention are deleted now and every hour. With `--workers N`, N such
servers share the port (server/workers.py); SIGTERM drains (server/drain.py):
work in flight is handed to the other processes.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import math
import os
import secrets
import signal
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
    from skyhop.server.api_version import API_VERSION

    info["api_version"] = API_VERSION  # what a client compares before it talks to this server (client/versions.py)
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
    """The server; a start the operator can fix (a database it cannot open or migrate, ...) ends with one paragraph on
    stderr (the log the CLI quotes), not a traceback."""
    from skyhop.errors import SkyhopError

    try:
        _main(argv)
    except SkyhopError as error:
        print("Error: " + " ".join(str(error).split()), file=sys.stderr, flush=True)  # one line (a driver's message may have several)
        sys.exit(1)


def _main(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(prog="python -m skyhop.server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--team", action="store_true", help="users' tokens from the state database; may listen on any address")
    parser.add_argument("--new-admin-token", action="store_true", help="team mode: mint a token for user admin (re-enabled as an admin) "
                        "and print it once, e.g. when the first one was lost")
    parser.add_argument("--db", default=None, help="the state database URL (team mode; default SKYHOP_DB_URL, else SQLite in SKYHOP_HOME)")
    parser.add_argument("--workers", type=int, default=1, help="server processes sharing the port (SO_REUSEPORT), each with its own controllers")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # one of --workers' processes (server/workers.py)
    parser.add_argument("--ready-fd", type=int, default=None, help=argparse.SUPPRESS)
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
    token: str | None = None
    if args.worker:
        workers.die_with_parent()
        token = sys.stdin.readline().strip() or None  # from the parent, on a pipe: never in argv or the environment
    elif not args.team:
        token = secrets.token_urlsafe(24)
    if args.team:  # a worker's parent made the admin already (server/workers.py): it finds one
        authenticator: Authenticator = _team_authenticator(store, new_admin_token=args.new_admin_token and not args.worker)
    else:
        assert token is not None
        authenticator = LocalToken(token, principal.local(current_user()))
    sock = workers.listening_socket(args.host, args.port, reuse_port=args.worker)
    app = create_app(store, authenticator, settings, controllers=True)
    app.state.job_access.bind(args.host, sock.getsockname()[1])  # before resumed launches hand it to jobs
    ttl = adoption.lease_ttl_s()
    adoption.join(store, ttl)
    accepts = adoption.accepting(authenticator.local_user)
    resume.resume_orphans(store, app.state.executor, accepts)
    stop_sweeping = threading.Event()
    retention.start(store, settings.request_retention_s, stop_sweeping)
    adoption.start(store, app.state.executor, ttl, stop_sweeping, accepts)
    # A process one of several (or reachable from elsewhere) turns unready before it closes its port, and gives
    # calls in flight `drain_s`; a laptop's own server keeps its quick stop (its clients are the CLI, which re-attaches).
    shared = args.worker or args.team or not loopback(args.host)
    drain_s = settings.drain_s if shared else min(settings.drain_s, 2.0)
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=math.ceil(drain_s))
    server = uvicorn.Server(config)
    drainer = drain.Drain(
        app, store, app.state.executor, drain_s=drain_s, notice_s=settings.drain_notice_s if shared else 0.0, ttl_s=ttl, stop_sweeping=stop_sweeping,
    )
    if args.worker:
        if args.ready_fd is not None:
            os.write(args.ready_fd, b"1")
            os.close(args.ready_fd)
    else:
        write_info(args.host, sock.getsockname()[1], token, start)
        if args.team:
            _say_ready(args.host, sock.getsockname()[1], start)
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


def _say_ready(host: str, port: int, start: str | None) -> None:
    """A team server's ready line on stdout (`skyhop api start --team` reads up to it); the rest goes to the log."""
    print(f"{TEAM_READY} http://{_url_host(host)}:{port}", flush=True)
    if start is not None:  # started by `skyhop api start`, which read stdout up to here
        os.dup2(2, 1)


def _supervise(args: argparse.Namespace, start: str | None) -> int:
    """`--workers N`: the parent of N worker processes (server/workers.py); publishes server.json in its own name.

    A team server's parent makes the first admin (and prints its token) before any worker starts, so two workers
    never both make one; a single-user server's parent picks the token the workers share.
    """
    from skyhop.server import workers

    token: str | None = None
    extra: list[str] = []
    if args.team:
        from skyhop.state.store import StateStore

        with StateStore() as store:
            _team_authenticator(store, new_admin_token=args.new_admin_token)
        extra.append("--team")
    else:
        token = secrets.token_urlsafe(24)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def publish(port: int) -> None:
        write_info(args.host, port, token, start)
        if args.team:
            _say_ready(args.host, port, start)

    try:
        return workers.supervise(args.host, args.port, args.workers, token or "", publish, extra)
    finally:
        remove_info()


def _team_authenticator(store: StateStore, *, new_admin_token: bool) -> Authenticator:
    """Users' tokens from the state database; with no enabled admin yet (or when asked), user `admin` and a token of
    its, printed once on stdout."""
    from skyhop.server.auth.tokens import TeamTokens
    from skyhop.state import pepper
    from skyhop.state.errors import StateError
    from skyhop.state.users import Users

    fresh = os.environ.get(pepper.ENV) is None and not pepper.pepper_file().exists()
    users = Users(store, pepper.load())
    if fresh and not new_admin_token and any(t.revoked_at is None for t in users.list_tokens()):
        pepper.pepper_file().unlink(missing_ok=True)  # else the next start would take it as this database's
        raise StateError(
            f"This server made a new token pepper ({pepper.pepper_file()}), but the database already holds tokens keyed by "
            "another one: every token would be refused here. Copy the token_pepper file of the host that made them into "
            f"{pepper.pepper_file().parent} (mode 0600), or give every host the same {pepper.ENV}; if that pepper is lost for "
            "good, start with --new-admin-token (every earlier token stays refused; re-issue them).")
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
