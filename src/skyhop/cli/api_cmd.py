"""`skyhop api start|stop|status|logs|cancel`: the local API server and its requests."""

from __future__ import annotations

import click

from skyhop.cli.output import OUTPUT_OPTION, emit_json, table


@click.group(
    epilog="""\b
Examples:
  skyhop api start
  skyhop api status
  skyhop api logs REQUEST_ID     # re-attach to a launch after Ctrl-C
  skyhop api cancel REQUEST_ID   # cancel it and remove what it created
  skyhop api stop
"""
)
def api() -> None:
    """Manage the API server every cluster command goes through.

    The CLI starts a local server on 127.0.0.1 on first use and reuses it;
    set SKYHOP_API_SERVER_URL (and SKYHOP_API_TOKEN) to use a remote one.
    """


@api.command()
def start() -> None:
    """Start the local API server (if it is not running)."""
    from skyhop.client.server_process import running_local, start_local

    running = running_local()
    info = running or start_local()
    click.echo(f"API server {'already running' if running else 'started'} at {info.url} (pid {info.pid}).")


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
