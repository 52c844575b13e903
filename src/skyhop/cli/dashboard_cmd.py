"""`skyhop dashboard`: open the API server's web UI in a browser."""

from __future__ import annotations

import click


@click.command(
    epilog="""\b
Examples:
  skyhop dashboard             # opens it, logged in (local server)
  skyhop dashboard --no-open   # prints the one-time link instead
"""
)
@click.option("--no-open", is_flag=True, help="Print the address instead of opening a browser.")
def dashboard(no_open: bool) -> None:
    """Open the web dashboard: clusters, live logs, managed jobs, services, requests, costs.

    For the local server you are logged in by a one-time link (valid a minute,
    usable once), so the server's token never appears in an address or the
    browser's history. For a remote server, log in with your API token.
    """
    import webbrowser

    from skyhop.client import http
    from skyhop.client.server_process import endpoint

    server = endpoint()
    assert server is not None
    plain = f"{server.url}/dashboard/"
    url = plain
    if server.pid is not None:  # the local server: a one-time login link instead of pasting its token
        url = server.url + http.call(server, "POST", "/api/v1/dashboard/code", expect="record")["path"]
    if not no_open and webbrowser.open(url):
        click.echo(f"Opened the dashboard in your browser: {plain}")
        return
    if url != plain:
        click.echo(f"Open this address in a browser on this machine (it logs you in once, within a minute):\n{url}")
    else:
        click.echo(f"Open {plain} in a browser and log in with your API token.")
