"""`--async`: hand a long request to the API server and return at once.

SkyPilot's `--async` prints the request id instead of waiting; the request
runs in the server all the same, and `skyhop api logs ID` follows it later.
"""

from __future__ import annotations

from typing import Any

import click

from skyhop.cli.output import emit_json

ASYNC_OPTION = click.option(
    "--async",
    "async_",
    is_flag=True,
    help="Submit the request and return its id at once; follow it later with `skyhop api logs ID`.",
)


def submit_async(verb: str, body: dict[str, Any], *, as_json: bool = False) -> str:
    """Submit `verb` and tell the user how to follow or cancel it; returns the request id."""
    from skyhop.client import api

    request_id = api.submit(verb, body)
    if as_json:
        emit_json({"request_id": request_id, "name": verb, "cluster": body.get("cluster")})
    else:
        click.echo(f"Submitted {verb} request {request_id}.")
        click.echo(f"  Follow: skyhop api logs {request_id}\n  Cancel: skyhop api cancel {request_id}", err=True)
    return request_id
