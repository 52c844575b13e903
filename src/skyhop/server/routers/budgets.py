"""`/api/v1/budgets`: monthly spending limits (`skyhop budgets set|list|delete`) and the caller's budget notices."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request

from skyhop.errors import NotFoundError
from skyhop.server import schemas
from skyhop.server.deps import Caller, Store
from skyhop.server.openapi import errors
from skyhop.server.services import budgets

router = APIRouter(prefix="/api/v1/budgets", tags=["budgets"], responses=errors(400, 404, 409))  # 409: team mode is off (single-user server)


@router.post("")
def set_budget(store: Store, caller: Caller, request: Request, payload: schemas.BudgetSetBody) -> dict[str, Any]:
    """Create or replace the budget of one user or workspace (admin only)."""
    users = getattr(request.app.state.authenticator, "users", None)  # a team server's users store (none on a single-user server)
    if users is not None and caller.is_admin:
        _require_subject(users, payload.scope, payload.subject)
    answer = budgets.set_budget(store, caller, payload)
    controller = getattr(request.app.state, "budgets_controller", None)
    if controller is not None:
        controller.wake()  # a new budget is claimed at once, not at the idle loop's next look
    return answer


def _require_subject(users, scope: str, subject: str) -> None:
    """A budget for a user or workspace the server does not have (a typo: `--user alcie`) would limit nobody while
    the admin believes it limits someone: refused, naming the listing to check."""
    if scope == "user" and users.get_user(subject) is None:
        raise NotFoundError(f"No user {subject!r} on this server, so a budget for it would limit nobody; `skyhop users list` lists them.")
    if scope == "workspace" and subject not in {w.name for w in users.list_workspaces()}:
        raise NotFoundError(f"No workspace {subject!r} on this server, so a budget for it would limit nobody; `skyhop workspaces list` lists them.")


@router.get("")
def list_budgets(store: Store, caller: Caller) -> list[dict[str, Any]]:
    """Every budget (admin, viewer) or the caller's own and their workspaces' (user), with this month's spend."""
    return budgets.list_budgets(store, caller)


@router.get("/notices")
def notices(store: Store, caller: Caller) -> list[dict[str, Any]]:
    """The caller's budgets that warned or were exceeded this month (the dashboard's banner)."""
    return budgets.notices(store, caller)


@router.delete("/{scope}/{subject}")
def delete_budget(store: Store, caller: Caller, scope: Literal["user", "workspace"], subject: schemas.BudgetSubjectPath) -> dict[str, Any]:
    """Remove a budget and what it recorded (admin only)."""
    return budgets.delete_budget(store, caller, scope, subject)
