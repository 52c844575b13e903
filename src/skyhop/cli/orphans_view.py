"""Orphans on the command line: the section `status --refresh` adds, `status --orphans`, and `down --orphans`."""

from __future__ import annotations

from typing import Any

import click

from skyhop.cli.output import emit_json, table


def show(survey: dict[str, Any], *, quiet_when_none: bool, hint: bool = True) -> None:
    """The orphans as a table (with the way to remove them, unless `hint` is off), and the providers that could not be asked."""
    found = survey.get("orphans") or []
    if found:
        click.echo(f"\n{len(found)} cloud resource(s) carry skyhop's marks but belong to no cluster it knows (they may still cost money):")
        table(("PROVIDER", "REGION", "KIND", "ID", "CLUSTER"), [(o["provider"], o.get("region") or "-", o["kind"], o["id"], o["cluster"]) for o in found])
        if hint:
            click.echo("Remove them: skyhop down --orphans")
    elif not quiet_when_none:
        click.echo("No orphaned cloud resources.")
    for item in survey.get("unchecked") or []:
        click.echo(f"Could not list {item['provider']}'s resources: {item['reason']}", err=True)


def listing(output: str) -> None:
    """`skyhop status --orphans`."""
    from skyhop.client import api

    survey = api.orphans()
    if output == "json":
        emit_json(survey)
        return
    show(survey, quiet_when_none=False)


def down(yes: bool, async_: bool) -> None:
    """`skyhop down --orphans`: list, confirm (unless -y), remove what is still an orphan when the request runs."""
    from skyhop.cli.async_request import submit_async
    from skyhop.cli.request_view import run_request
    from skyhop.client import api

    survey = api.orphans()
    found = survey.get("orphans") or []
    show(survey, quiet_when_none=False, hint=False)
    if not found:
        return
    if not yes and not click.confirm(f"Remove these {len(found)} resource(s)?", default=False, err=True):
        click.echo("Nothing removed.", err=True)
        raise SystemExit(1)
    body = {"keys": [o["key"] for o in found]}
    if async_:
        submit_async("down-orphans", body)
        return
    result = run_request("down-orphans", body)
    click.echo(f"Removed {len(result['removed'])} resource(s)." + (f" Skipped {len(result['skipped'])} that are no longer orphans." if result["skipped"] else ""))
