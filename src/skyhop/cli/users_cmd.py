"""`skyhop users create|list|set-role|disable|enable`: a team server's users (admin only)."""

from __future__ import annotations

import click

from skyhop.cli.output import OUTPUT_OPTION, YES_OPTION, age, confirmed, emit_json, table

ROLES = click.Choice(["admin", "user", "viewer"])


@click.group(epilog="""\b
Examples:
  skyhop users create alice
  skyhop users create finance --role viewer
  skyhop users list --output json
  skyhop users set-role alice admin
  skyhop users disable bob       # bob's tokens are refused from now on
  skyhop users enable bob        # ... and accepted again
""")
def users() -> None:
    """Users of a team server (admin only): create, list, set a role, disable, enable.

    They are the users of the team API server you are logged in to.

    Roles: admin (everything), user (their own clusters and jobs), viewer
    (reads everything, changes nothing). Give a new user a token with
    `skyhop tokens create --user NAME`.
    """


@users.command(epilog="""\b
Examples:
  skyhop users create alice
  skyhop users create finance --role viewer
  skyhop users create ci-bot --service --display-name 'CI'
""")
@click.argument("user_id")
@click.option("--role", type=ROLES, default="user", show_default=True)
@click.option("--service", is_flag=True, help="A service account (for automation), not a person.")
@click.option("--display-name", default=None, help="A readable name (`Alice Liddell`).")
def create(user_id: str, role: str, service: bool, display_name: str | None) -> None:
    """Create a user (a member of the `default` workspace)."""
    from skyhop.client import team

    made = team.create_user(user_id, role=role, kind="service" if service else "human", display_name=display_name)
    click.echo(f"Created user {made['id']} (role {made['role']}). Make its token: skyhop tokens create --user {made['id']}")


@users.command(name="list", epilog="""\b
Examples:
  skyhop users list
  skyhop users list --output json
""")
@OUTPUT_OPTION
def list_(output: str) -> None:
    """Every user, with role and state."""
    from skyhop.client import team

    rows = team.list_users()
    if output == "json":
        emit_json(rows)
        return
    table(("USER", "ROLE", "KIND", "CREATED", "STATE"),
          [(r["id"], r["role"], r["kind"], age(r["created_at"]), "disabled" if r["disabled_at"] else "enabled") for r in rows])


@users.command(name="set-role", epilog="""\b
Examples:
  skyhop users set-role alice admin
  skyhop users set-role finance viewer
""")
@click.argument("user_id")
@click.argument("role", type=ROLES)
def set_role(user_id: str, role: str) -> None:
    """Change a user's role (the last enabled admin stays one)."""
    from skyhop.client import team

    changed = team.set_role(user_id, role)
    click.echo(f"{changed['id']} is now {changed['role']}.")


@users.command(epilog="""\b
Examples:
  skyhop users disable bob
  skyhop users disable bob -y   # no question (scripts)
""")
@click.argument("user_id")
@YES_OPTION
def disable(user_id: str, yes: bool) -> None:
    """Disable a user: their tokens are refused from the next request on; what they own stays theirs. Asks first unless -y."""
    from skyhop.client import team

    confirmed(yes, f"Disable {user_id}? Their tokens are refused from the next request on (`skyhop users enable {user_id}` undoes it).", default=False)
    team.disable_user(user_id)
    click.echo(f"Disabled {user_id}: their tokens are refused from now on. `skyhop users enable {user_id}` undoes it.")


@users.command(epilog="""\b
Examples:
  skyhop users enable bob
""")
@click.argument("user_id")
def enable(user_id: str) -> None:
    """Enable a disabled user again: their tokens that are not revoked or expired work again."""
    from skyhop.client import team

    team.enable_user(user_id)
    click.echo(f"Enabled {user_id}: their tokens (not revoked, not expired) are accepted again; `skyhop tokens list --user {user_id}` lists them.")
