"""`/api/v1/admin/users`: team mode's users (admin only): create, list, set a role, disable, enable.

A disabled user's tokens are refused from the next request on; the row stays,
so what they launched keeps its owner. On a single-user server these routes
answer 409 (server/auth/tokens.py `team_users`).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from skyhop.server.auth.policy import require_admin
from skyhop.server.auth.tokens import team_users
from skyhop.server.deps import Caller
from skyhop.server.openapi import errors
from skyhop.state.users import NAME_PATTERN, Users

router = APIRouter(prefix="/api/v1/admin/users", tags=["admin"], responses=errors(400, 404, 409))  # 409: team mode is off (single-user server)

TeamUsers = Annotated[Users, Depends(team_users)]
UserIdPath = Annotated[str, Path(pattern=f"^{NAME_PATTERN}$")]
Role = Literal["admin", "user", "viewer"]


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(..., pattern=f"^{NAME_PATTERN}$")
    role: Role = "user"
    kind: Literal["human", "service"] = "human"
    display_name: str | None = Field(default=None, min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


@router.post("")
def create_user(body: NewUser, caller: Caller, users: TeamUsers) -> dict[str, Any]:
    require_admin(caller, "Creating users")
    return asdict(users.create_user(body.id, role=body.role, kind=body.kind, display_name=body.display_name, created_by=caller.user))


@router.get("")
def list_users(caller: Caller, users: TeamUsers) -> list[dict[str, Any]]:
    require_admin(caller, "Listing users")
    return [asdict(user) for user in users.list_users()]


@router.put("/{user_id}/role")
def set_role(user_id: UserIdPath, body: RoleChange, caller: Caller, users: TeamUsers) -> dict[str, Any]:
    require_admin(caller, "Changing a user's role")
    return asdict(users.set_role(user_id, body.role))


@router.post("/{user_id}/disable")
def disable(user_id: UserIdPath, caller: Caller, users: TeamUsers) -> dict[str, Any]:
    require_admin(caller, "Disabling a user")
    return asdict(users.disable(user_id))


@router.post("/{user_id}/enable")
def enable(user_id: UserIdPath, caller: Caller, users: TeamUsers) -> dict[str, Any]:
    require_admin(caller, "Enabling a user")
    return asdict(users.enable(user_id))
