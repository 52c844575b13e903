"""Who may read and change what: pure functions of a `Principal` and an object's owner.

Another user's object answers 404, the same as a missing one, so names and
ids of others' clusters and jobs do not leak; a listing of every user's
objects needs a role that sees all, and asking without it is a 403 that says
so rather than a silently narrowed answer.
"""

from __future__ import annotations

from skyhop.errors import ForbiddenError, NotFoundError
from skyhop.server.auth.principal import Principal


def can_read(principal: Principal, owner: str | None) -> bool:
    return principal.sees_all or owner == principal.user


def can_write(principal: Principal, owner: str | None) -> bool:
    return principal.is_admin or (owner == principal.user and principal.role.value != "viewer")


def owners(principal: Principal, all_users: bool) -> list[str] | None:
    """The owners a listing shows: None for everyone (allowed only to a role that sees all)."""
    if not all_users:
        return [principal.user]
    if not principal.sees_all:
        raise ForbiddenError(f"-u/--all-users needs the admin or viewer role; you ({principal.user}) are {principal.role.value}.")
    return None


def require_read(principal: Principal, owner: str | None, what: str) -> None:
    """`what` (e.g. "Cluster 'dev'") is answered as missing when the caller may not see it."""
    if not can_read(principal, owner):
        raise NotFoundError(f"{what} does not exist.")


def require_write(principal: Principal, owner: str | None, what: str) -> None:
    require_read(principal, owner, what)
    if not can_write(principal, owner):
        raise ForbiddenError(f"{what} belongs to {owner}; your role ({principal.role.value}) cannot change it.")


def require_writer(principal: Principal) -> None:
    """Creating anything needs a role that writes."""
    if principal.role.value == "viewer":
        raise ForbiddenError(f"Your role ({principal.role.value}) can read but not create or change anything.")


def require_admin(principal: Principal, what: str) -> None:
    """Shared infrastructure (SSH node pools, orphaned cloud resources), users, roles, workspaces and budgets are the
    admins' to change. Not through a job's service token, though its launcher is an admin: what these change outlives
    the job (a user made admin by a job stays one), as a token it made would (routers/tokens.py)."""
    if not principal.is_admin:
        raise ForbiddenError(f"{what} needs the admin role; you ({principal.user}) are {principal.role.value}.")
    if principal.acts_for is not None:
        raise ForbiddenError(f"{what} needs an admin's own token: a job's service token does not carry its launcher's admin role "
                             "(the change would outlive the job).")
