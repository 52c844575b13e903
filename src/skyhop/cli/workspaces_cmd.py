"""`skyhop workspaces create|list|delete|add-member|remove-member`: groups of users on a team server."""

from __future__ import annotations

import click

from skyhop.cli.output import OUTPUT_OPTION, YES_OPTION, confirmed, emit_json, table


@click.group(epilog="""\b
Examples:
  skyhop workspaces create ml --description "the ML team"
  skyhop workspaces add-member ml alice
  skyhop workspaces list --output json
  skyhop workspaces remove-member ml alice
""")
def workspaces() -> None:
    """Workspaces (groups of users) of a team server.

    Admins change them; anyone lists their own. `default` holds everyone.
    """


@workspaces.command(epilog="""\b
Examples:
  skyhop workspaces create ml --description 'ML team'
""")
@click.argument("name")
@click.option("--description", default=None)
def create(name: str, description: str | None) -> None:
    """Create a workspace."""
    from skyhop.client import team

    team.create_workspace(name, description)
    click.echo(f"Created workspace {name}.")


@workspaces.command(name="list", epilog="""\b
Examples:
  skyhop workspaces list
  skyhop workspaces list --output json
""")
@OUTPUT_OPTION
def list_(output: str) -> None:
    """Workspaces and their members (an admin sees all, others their own)."""
    from skyhop.client import team

    rows = team.list_workspaces()
    if output == "json":
        emit_json(rows)
        return
    table(("WORKSPACE", "MEMBERS", "DESCRIPTION"),
          [(r["name"], ", ".join(f"{m['user']} ({m['role']})" for m in r["members"]) or "-", r["description"] or "-") for r in rows])


@workspaces.command(epilog="""\b
Examples:
  skyhop workspaces delete ml
  skyhop workspaces delete ml -y   # no question (scripts)
""")
@click.argument("name")
@YES_OPTION
def delete(name: str, yes: bool) -> None:
    """Delete a workspace (not `default`). Asks first unless -y."""
    from skyhop.client import team

    confirmed(yes, f"Delete workspace {name}? Its memberships are removed; this cannot be undone.", default=False)
    team.delete_workspace(name)
    click.echo(f"Deleted workspace {name}.")


@workspaces.command(name="add-member", epilog="""\b
Examples:
  skyhop workspaces add-member ml alice
  skyhop workspaces add-member ml bob --role viewer
""")
@click.argument("name")
@click.argument("user")
@click.option("--role", type=click.Choice(["admin", "member", "viewer"]), default="member", show_default=True)
def add_member(name: str, user: str, role: str) -> None:
    """Add a user to a workspace (or change their role in it)."""
    from skyhop.client import team

    team.add_member(name, user, role)
    click.echo(f"{user} is a {role} of {name}.")


@workspaces.command(name="remove-member", epilog="""\b
Examples:
  skyhop workspaces remove-member ml bob
""")
@click.argument("name")
@click.argument("user")
def remove_member(name: str, user: str) -> None:
    """Remove a user from a workspace."""
    from skyhop.client import team

    team.remove_member(name, user)
    click.echo(f"Removed {user} from {name}.")
