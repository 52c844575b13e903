"""`skyhop tokens create|list|revoke`: API tokens of a team server."""

from __future__ import annotations

import click

from skyhop.cli.output import OUTPUT_OPTION, YES_OPTION, age, confirmed, emit_json, table


@click.group(epilog="""\b
Examples:
  skyhop tokens create --name laptop
  skyhop tokens create --user alice --name onboarding    # admin: a token for alice
  skyhop tokens create --name ci --expires-in-days 30 --output json
  skyhop tokens list
  skyhop tokens list --all-users --output json             # admin
  skyhop tokens revoke 3kq9x0c2m1ab
""")
def tokens() -> None:
    """API tokens of a team server: make (shown once), list, revoke.

    Yours, or (admin) anyone's.

    A token is shown once, when made; the server keeps only a keyed hash.
    A revoked token is refused from the next request on.
    """


@tokens.command(epilog="""\b
Examples:
  skyhop tokens create --name laptop
  skyhop tokens create --user alice --name onboarding    # admin
  skyhop tokens create --name ci --expires-in-days 30 --output json
""")
@click.option("--name", default=None, help="What the token is for (`laptop`, `ci`).")
@click.option("--user", default=None, help="Admin: make the token for this user.")
@click.option("--expires-in-days", type=click.FloatRange(min=0.001, max=3650), default=None, help="Refused after this many days (default: never).")
@OUTPUT_OPTION
def create(name: str | None, user: str | None, expires_in_days: float | None, output: str) -> None:
    """Make a token and print it (once: it cannot be shown again)."""
    from skyhop.client import team

    made = team.create_token(name=name, user=user, expires_in_s=None if expires_in_days is None else expires_in_days * 86400)
    if output == "json":  # for scripts that hand the token on: the record with `token`
        emit_json(made)
        return
    click.echo(f"Token {made['id']} for {made['user']}:\n\n    {made['token']}\n")
    click.echo("Store it now: it is not shown again (the server keeps only a hash). Use it with `skyhop api login URL`.", err=True)


@tokens.command(name="list", epilog="""\b
Examples:
  skyhop tokens list
  skyhop tokens list --all-users --output json    # admin
""")
@click.option("--user", default=None, help="Admin: this user's tokens.")
@click.option("--all-users", "-u", is_flag=True, help="Admin: everyone's tokens.")
@OUTPUT_OPTION
def list_(user: str | None, all_users: bool, output: str) -> None:
    """Tokens (ids, names and times; never the tokens themselves)."""
    from skyhop.client import team

    rows = team.list_tokens(user=user, all_users=all_users)
    if output == "json":
        emit_json(rows)
        return

    def state(row: dict) -> str:
        import time

        if row["revoked_at"]:
            return "revoked"
        return "expired" if row["expires_at"] and row["expires_at"] <= time.time() else "valid"

    table(("ID", "USER", "NAME", "KIND", "CREATED", "LAST USED", "STATE"),
          [(r["id"], r["user"], r["name"] or "-", r["kind"], age(r["created_at"]), age(r["last_used_at"]), state(r)) for r in rows])


@tokens.command(epilog="""\b
Examples:
  skyhop tokens revoke 3kq9x0c2m1ab    # the id `tokens list` shows
  skyhop tokens revoke 3kq9x0c2m1ab -y # no question (scripts)
""")
@click.argument("token_id")
@YES_OPTION
def revoke(token_id: str, yes: bool) -> None:
    """Revoke a token by its id (`tokens list`): refused from the next request on. Asks first unless -y."""
    from skyhop.client import team

    confirmed(yes, f"Revoke token {token_id}? Whoever uses it is refused from the next request on; this cannot be undone.", default=False)
    revoked = team.revoke_token(token_id)
    click.echo(f"Revoked token {revoked['id']} of {revoked['user']}.")
