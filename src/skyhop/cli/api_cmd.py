"""`skyhop api start|stop|status|logs|cancel|login|logout|info`: the API server, its requests, and logging in to a team one."""

from __future__ import annotations

import click

from skyhop.cli.output import OUTPUT_OPTION, emit_json, table


@click.group(
    epilog="""\b
Examples:
  skyhop api start
  skyhop api start --team --host 0.0.0.0 --port 46580 --db postgresql+psycopg://skyhop@db/skyhop
  skyhop api login https://skyhop.example.com     # prompts for your token
  skyhop api info
  skyhop api status
  skyhop api logs REQUEST_ID     # re-attach to a launch after Ctrl-C
  skyhop api cancel REQUEST_ID   # cancel it and remove what it created
  skyhop api stop
"""
)
def api() -> None:
    """Manage the API server every cluster command goes through.

    The CLI starts a local server on 127.0.0.1 on first use and reuses it;
    `skyhop api login URL` (or SKYHOP_API_SERVER_URL and SKYHOP_API_TOKEN)
    points it at a shared team server instead.
    """


#: A team server's port when none is given (SkyPilot's API server's).
TEAM_PORT = 46580


@api.command(epilog="""\b
Examples:
  skyhop api start                      # single-user, on a free 127.0.0.1 port
  skyhop api start --team --host 0.0.0.0 --port 46580 --db postgresql+psycopg://skyhop@db/skyhop
  skyhop api start --team --foreground  # in a container: the server runs in this process
""")
@click.option("--team", is_flag=True, help="A shared server: users, tokens and roles from the state database. The first start prints an admin token once.")
@click.option("--host", default=None, help="Team mode: the address to listen on (default 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help=f"Team mode: the port (default {TEAM_PORT}; 0 picks a free one).")
@click.option("--db", default=None, help="Team mode: the state database URL (default SKYHOP_DB_URL, else SQLite in SKYHOP_HOME). No password here: "
              "use SKYHOP_DB_URL or ~/.pgpass.")
@click.option("--new-admin-token", is_flag=True, help="Team mode: print a new token for user admin (re-enabled as an admin), "
              "when the first one was lost. Revoke the old one after.")
@click.option("--foreground", is_flag=True, help="Team mode: run the server in this process until stopped (containers, systemd).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Server processes sharing the port, each with its own controllers: one that dies loses nothing.")
def start(team: bool, host: str | None, port: int | None, db: str | None, new_admin_token: bool, foreground: bool, workers: int) -> None:
    """Start the API server (if it is not running): single-user by default, shared with --team."""
    from skyhop.client.server_process import local, running_local, start_local

    if not team:
        if host is not None or port is not None or db is not None or foreground or new_admin_token:
            raise click.UsageError("--host, --port, --db, --new-admin-token and --foreground are for a team server (--team): a single-user server "
                                   "listens on a free 127.0.0.1 port that only its server.json tells.")
        running = running_local()
        info = local(argv=["--workers", str(workers)] if workers > 1 else [])  # one of an older skyhop is replaced when idle
        assert info is not None
        state = "started" if running is None else "already running" if running.pid == info.pid else "restarted (it ran an older skyhop)"
        click.echo(f"API server {state} at {info.url} (pid {info.pid}).")
        return
    argv = ["--team", "--host", host or "127.0.0.1", "--port", str(TEAM_PORT if port is None else port)]
    if db is not None:
        argv += ["--db", db]
    if new_admin_token:
        argv.append("--new-admin-token")
    if workers > 1:
        argv += ["--workers", str(workers)]
    if foreground:
        from skyhop.server.__main__ import main as serve

        serve(argv)
        return
    running = running_local()
    if running is not None:
        mode = "team" if running.token is None else "single-user"
        click.echo(f"An API server ({mode}) already runs for this SKYHOP_HOME at {running.url} (pid {running.pid}); "
                   "`skyhop api stop` stops it.")
        return
    info = start_local(argv, on_output=click.echo)
    click.echo(f"Team API server started at {info.url} (pid {info.pid}). Log in with `skyhop api login {info.url}`.")


@api.command()
def stop() -> None:
    """Stop the local API server. Clusters and jobs keep running."""
    from skyhop.client.server_process import stop_local

    click.echo("API server stopped." if stop_local() else "API server was not running.")


@api.command()
@click.option("-u", "--all-users", is_flag=True, help="Include other users' requests (admin or viewer role).")
@OUTPUT_OPTION
def status(all_users: bool, output: str) -> None:
    """The server's address, and your recent requests."""
    from skyhop.client import api
    from skyhop.client.server_process import endpoint

    info = endpoint(autostart=False)
    if info is None:
        if output == "json":
            emit_json({"running": False, "requests": []})
        else:
            click.echo("API server: not running (it starts on the next command that needs it).")
        return
    rows = api.requests(all_users=all_users)
    if output == "json":
        emit_json({"running": True, "url": info.url, "pid": info.pid, "requests": rows})
        return
    click.echo(f"API server: {info.url}" + (f" (pid {info.pid})" if info.pid else ""))
    if rows:
        table(("REQUEST", "NAME", "CLUSTER", "STATUS"), [(r["request_id"], r["name"], r["cluster"] or "-", r["status"]) for r in rows[:20]])


@api.command()
@click.argument("request_id")
def logs(request_id: str) -> None:
    """Follow a request's progress and output (re-attach after Ctrl-C)."""
    from skyhop.cli.request_view import exit_for_job, follow_request

    result = follow_request(request_id).get("result")
    if isinstance(result, dict) and "job_status" in result:
        exit_for_job(result)


@api.command()
@click.argument("request_id")
def cancel(request_id: str) -> None:
    """Cancel a running request; what it created so far is removed."""
    from skyhop.client import api

    click.echo(api.cancel_request(request_id)["message"])


@api.command(epilog="""\b
Examples:
  skyhop api login https://skyhop.example.com          # prompts for the token (not echoed)
  printf '%s\\n' "$TOKEN" | skyhop api login URL --token-stdin
""")
@click.argument("url")
@click.option("--token-stdin", is_flag=True, help="Read the token from standard input (scripts); never give it as an argument.")
def login(url: str, token_stdin: bool) -> None:
    """Log in to a team API server: every later command goes there, as you.

    The token is checked against the server first, then stored with the URL in
    SKYHOP_HOME/api/remote.json (readable by you only). SKYHOP_API_SERVER_URL,
    when set, still wins.
    """
    import os
    import sys

    from skyhop.client import team
    from skyhop.errors import SkyhopError

    if token_stdin:
        token = sys.stdin.readline()
    elif sys.stdin.isatty():
        token = click.prompt("API token", hide_input=True, default="", show_default=False)
    else:
        raise SkyhopError("No terminal to ask for the token on: pipe it in with --token-stdin (a token is never an argument: "
                          "every user of the machine can read command lines).")
    who = team.login(url, token)
    click.echo(f"Logged in to {who['url']} as {who['user']} (role {who['role']}, {who['mode']} mode).")
    if _plain_http_elsewhere(who["url"]):
        click.echo("Note: this server is reached over plain http on the network, so the token travels unencrypted; "
                   "put a TLS reverse proxy in front and log in to its https:// URL.", err=True)
    if os.environ.get("SKYHOP_API_SERVER_URL"):
        click.echo("Note: SKYHOP_API_SERVER_URL is set in this shell and wins over the login until it is unset.", err=True)


def _plain_http_elsewhere(url: str) -> bool:
    import ipaddress
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname in (None, "localhost"):
        return False
    try:
        return not ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return True


@api.command(epilog="""\b
Examples:
  skyhop api logout    # back to the local server
""")
def logout() -> None:
    """Forget the stored login; commands go to the local server again."""
    from skyhop.client import remote

    login = remote.remove()
    click.echo(f"Logged out of {login.url}." if login is not None else "Not logged in.")


@api.command(epilog="""\b
Examples:
  skyhop api info
  skyhop api info --output json
""")
@OUTPUT_OPTION
def info(output: str) -> None:
    """The server you talk to and who it takes you for (never the token itself)."""
    from skyhop.client import team
    from skyhop.client.server_process import endpoint

    found = endpoint(autostart=False)
    if found is None:
        if output == "json":
            emit_json({"url": None})
        else:
            click.echo("No API server: not logged in, and no local server running (it starts on the next command that needs it).")
        return
    who = team.whoami(found)
    data = {"url": found.url, **who}
    if output == "json":
        emit_json(data)
        return
    for label, key in (("URL", "url"), ("Mode", "mode"), ("Version", "version"), ("User", "user"), ("Role", "role"), ("Token id", "token_id")):
        click.echo(f"{label + ':':<12}{data.get(key) if data.get(key) is not None else '-'}")
    click.echo(f"{'Workspaces:':<12}{', '.join(data.get('workspaces') or []) or '-'}")
