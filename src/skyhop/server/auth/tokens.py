"""Team mode's authenticator: a user's token, looked up in the state database at every request.

No cache: the lookup is one query by primary key (state/users.py), so a
revoked token, an expired one or a disabled user's is refused on the very
next call, by every server process sharing the database.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from fastapi import Request  # at run time: FastAPI reads the dependency's annotation

from skyhop.errors import ConflictError
from skyhop.server.auth.principal import DEFAULT_WORKSPACE, Principal, Role

if TYPE_CHECKING:
    from skyhop.state.records import ClusterRecord
    from skyhop.state.store import StateStore
    from skyhop.state.users import Authenticated, TokenRecord, Users

#: What `/api/v1/whoami` calls each mode.
TEAM = "team"
SINGLE_USER = "single-user"


class TeamModeOff(ConflictError):
    """An admin route of team mode asked of a single-user server."""


class TeamTokens:
    """Authenticator (server/middleware.py) of a team server: blocking, since it reads the database.

    A job's token (server/job_access.py) names its cluster and that cluster's
    `launched_at`: it is refused, and revoked, at its first use once the
    cluster is gone or is another launch of the same name (one more read, for
    such tokens only), so a torn-down cluster's token is dead at once.
    """

    blocking = True
    mode = TEAM
    local_user: str | None = None  # every user's work is this server's (controllers take all)

    def __init__(self, users: Users, clusters: StateStore) -> None:
        self.users = users
        self.clusters = clusters

    def principal(self, token: str) -> Principal | None:
        found = self.users.authenticate(token)
        if found is None:
            return None
        if not self._cluster_alive(found.token):
            from sqlalchemy.exc import DBAPIError

            with contextlib.suppress(DBAPIError):  # refused either way; the revocation spares later calls the read
                self.users.revoke(found.token.id)
            return None
        return principal_of(found)

    def _cluster_alive(self, token: TokenRecord) -> bool:
        """False for a job token whose launch of its cluster is over; True for every other token."""
        from skyhop.server.job_access import CLUSTER_KEY, LAUNCHED_AT_KEY

        scope = token.scope if token.kind == "service" and isinstance(token.scope, dict) else {}
        name = scope.get(CLUSTER_KEY)
        if name is None:
            return True
        record = self.clusters.get_cluster(name) if isinstance(name, str) else None
        return record is not None and record.launched_at == scope.get(LAUNCHED_AT_KEY)

    def mint_for_job(self, record: ClusterRecord) -> str:
        """A service token of the cluster's owner, acting for them, alive while this launch of the cluster is."""
        from skyhop.server.job_access import CLUSTER_KEY, LAUNCHED_AT_KEY, NoAccessForJobs

        if record.user is None or record.launched_at is None:
            raise NoAccessForJobs(f"api_server_access: cluster '{record.name}' has no owner on record, so its job cannot be given a token.")
        scope = {"acts_for": record.user, "workspace": record.workspace or DEFAULT_WORKSPACE, CLUSTER_KEY: record.name,
                 LAUNCHED_AT_KEY: record.launched_at}
        return self.users.mint(record.user, kind="service", name=f"job on {record.name}", scope=scope).secret


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
