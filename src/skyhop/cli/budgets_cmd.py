"""`skyhop budgets set|list|delete`: monthly spending limits per user or workspace (team mode)."""

from __future__ import annotations

import sys

import click

from skyhop.cli.output import OUTPUT_OPTION, YES_OPTION, confirmed, emit_json, money, table
from skyhop.errors import SkyhopError


@click.group(
    epilog="""\b
Examples:
  skyhop budgets set --user alice --monthly 500
  skyhop budgets set --workspace team-a --monthly 2000 --warn-at 0.9 --action refuse_and_stop \\
      --webhook - < slack-webhook-url.txt
  skyhop budgets list
  skyhop budgets delete --user alice
"""
)
def budgets() -> None:
    """Monthly budgets: warned at a fraction, launches refused at 100% (and clusters stopped, jobs paused, if asked)."""


def _scope(user: str | None, workspace: str | None) -> tuple[str, str]:
    if (user is None) == (workspace is None):
        raise SkyhopError("Give exactly one of --user USER or --workspace NAME.")
    return ("user", user) if user is not None else ("workspace", workspace)  # type: ignore[return-value]


@budgets.command("set", epilog="""\b
Examples:
  skyhop budgets set --user alice --monthly 500
  skyhop budgets set --workspace ml --monthly 2000 --action refuse_and_stop --webhook - < url.txt
""")
@click.option("--user", metavar="USER", help="The user the budget is for.")
@click.option("--workspace", metavar="NAME", help="The workspace the budget is for.")
@click.option("--monthly", type=click.FloatRange(min=0, min_open=True), required=True, metavar="USD", help="The limit per calendar month (UTC), in USD.")
@click.option("--warn-at", type=click.FloatRange(0, 1, min_open=True), default=0.8, show_default=True, help="Warn the owner at this fraction of the limit.")
@click.option(
    "--action", type=click.Choice(["refuse", "refuse_and_stop"]), default="refuse", show_default=True,
    help="At 100%: refuse new launches; refuse_and_stop also stops running clusters (never removes them) and pauses managed jobs.",
)
@click.option(
    "--webhook", metavar="URL",
    help="POST the warning and the 100% notice here as JSON (https://; http only to loopback). `-` reads the URL from stdin, "
    "so a URL whose path is a credential (Slack's) stays out of the process list and shell history.",
)
@OUTPUT_OPTION
def set_(user: str | None, workspace: str | None, monthly: float, warn_at: float, action: str, webhook: str | None, output: str) -> None:
    """Set (or replace) the monthly budget of a user or a workspace (admin only)."""
    from skyhop.client import api

    scope, subject = _scope(user, workspace)
    if webhook == "-":
        webhook = sys.stdin.readline().strip() or None
    body = {"scope": scope, "subject": subject, "monthly_limit": monthly, "warn_fraction": warn_at, "action": action, "webhook_url": webhook}
    result = api.budgets_set(body)
    if output == "json":
        emit_json(result)
        return
    verb = "Created" if result.get("created") else "Updated"
    click.echo(
        f"{verb} the budget for {scope} {subject}: {money(monthly)} a month, warning at {warn_at:.0%}, then {action.replace('_', ' ')}; "
        f"{money(result['spent'])} spent in {result['month']}."
    )


@budgets.command("list", epilog="""\b
Examples:
  skyhop budgets list
  skyhop budgets list --output json
""")
@OUTPUT_OPTION
def list_(output: str) -> None:
    """The budgets you may see (admins and viewers: all), with this month's spend."""
    from skyhop.client import api

    rows = api.budgets_list()
    if output == "json":
        emit_json(rows)
        return
    if not rows:
        click.echo("No budgets.")
        return
    table(
        ("SCOPE", "SUBJECT", "MONTH", "SPENT", "LIMIT", "USED", "WARN AT", "ACTION", "THIS MONTH"),
        [
            (r["scope"], r["subject"], r["month"], money(r["spent"]), money(r["monthly_limit"]),
             f"{r['fraction']:.0%}" if r["fraction"] is not None else "-", f"{r['warn_fraction']:.0%}", r["action"], ", ".join(r["events"]) or "-")
            for r in rows
        ],
    )


@budgets.command("delete", epilog="""\b
Examples:
  skyhop budgets delete --user alice
  skyhop budgets delete --workspace ml -y   # no question (scripts)
""")
@click.option("--user", metavar="USER")
@click.option("--workspace", metavar="NAME")
@YES_OPTION
def delete(user: str | None, workspace: str | None, yes: bool) -> None:
    """Remove the budget of a user or a workspace (admin only): their spending is then unlimited. Asks first unless -y."""
    from skyhop.client import api

    scope, subject = _scope(user, workspace)
    confirmed(yes, f"Remove the budget for {scope} {subject}? Their spending is then unlimited.", default=False)
    api.budgets_delete(scope, subject)
    click.echo(f"Removed the budget for {scope} {subject}.")
