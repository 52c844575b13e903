"""Team mode's authenticator: a user's token, looked up in the state database at every request.

No cache: the lookup is one query by primary key (state/users.py), so a
revoked token, an expired one or a disabled user's is refused on the very
next call, by every server process sharing the database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Request  # at run time: FastAPI reads the dependency's annotation

from skyhop.errors import ConflictError
from skyhop.server.auth.principal import DEFAULT_WORKSPACE, Principal, Role

if TYPE_CHECKING:
    from skyhop.state.users import Authenticated, Users

#: What `/api/v1/whoami` calls each mode.
TEAM = "team"
SINGLE_USER = "single-user"


class TeamModeOff(ConflictError):
    """An admin route of team mode asked of a single-user server."""


class TeamTokens:
    """Authenticator (server/middleware.py) of a team server: blocking, since it reads the database."""

    blocking = True
    mode = TEAM
    local_user: str | None = None  # every user's work is this server's (controllers take all)

    def __init__(self, users: Users) -> None:
        self.users = users

    def principal(self, token: str) -> Principal | None:
        found = self.users.authenticate(token)
        return None if found is None else principal_of(found)


def principal_of(found: Authenticated) -> Principal:
    """The caller a valid token stands for: its user's role and workspaces; a service token acts for its scope's user."""
    scope = found.token.scope if found.token.kind == "service" and isinstance(found.token.scope, dict) else {}
    workspaces = found.workspaces
    workspace = scope.get("workspace") if scope.get("workspace") in workspaces else None
    if workspace is None:
        workspace = DEFAULT_WORKSPACE if DEFAULT_WORKSPACE in workspaces or not workspaces else min(workspaces)
    acts_for = scope.get("acts_for")
    return Principal(user=found.user, role=Role(found.role), workspace=workspace, workspaces=workspaces, token_id=found.token.id,
                     acts_for=acts_for if isinstance(acts_for, str) else None)


def mode_of(request: Request) -> str:
    return getattr(request.app.state.authenticator, "mode", SINGLE_USER)


def team_users(request: Request) -> Users:
    """The users store of a team server (a route dependency); a single-user server answers 409 saying so.

    A single-user server never reads users or tokens (whoever holds its
    server.json is the machine's owner), so users made there would be
    records nobody can use: refusing says what to do instead.
    """
    authenticator = request.app.state.authenticator
    if not isinstance(authenticator, TeamTokens):
        raise TeamModeOff(
            "Team mode is off: this API server is single-user (it trusts whoever holds its server.json), so it has no users "
            "or tokens. Start a shared server with `skyhop api start --team --host ADDRESS --port PORT --db URL`, "
            "then `skyhop api login URL`."
        )
    return authenticator.users
