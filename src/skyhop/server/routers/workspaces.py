"""`/api/v1/admin/workspaces`: groups of users (admin only to change; anyone lists their own).

`default` always exists and every new user is a member of it.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from skyhop.server.auth.policy import require_admin
from skyhop.server.auth.tokens import team_users
from skyhop.server.deps import Caller
from skyhop.state.users import NAME_PATTERN, Users, WorkspaceRecord

router = APIRouter(prefix="/api/v1/admin/workspaces", tags=["admin"])

TeamUsers = Annotated[Users, Depends(team_users)]
NamePath = Annotated[str, Path(pattern=f"^{NAME_PATTERN}$")]


class NewWorkspace(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., pattern=f"^{NAME_PATTERN}$")
    description: str | None = Field(default=None, max_length=1000)


class Member(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["admin", "member", "viewer"] = "member"


def shown(workspace: WorkspaceRecord) -> dict[str, Any]:
    record = asdict(workspace)
    record["members"] = [{"user": user, "role": role} for user, role in workspace.members]
    return record


@router.post("")
def create_workspace(body: NewWorkspace, caller: Caller, users: TeamUsers) -> dict[str, Any]:
    require_admin(caller, "Creating a workspace")
    return shown(users.create_workspace(body.name, body.description))


@router.get("")
def list_workspaces(caller: Caller, users: TeamUsers) -> list[dict[str, Any]]:
    """An admin sees every workspace; anyone else those they belong to."""
    return [shown(w) for w in users.list_workspaces(member=None if caller.is_admin else caller.user)]


@router.delete("/{name}")
def delete_workspace(name: NamePath, caller: Caller, users: TeamUsers) -> dict[str, Any]:
    require_admin(caller, "Deleting a workspace")
    users.delete_workspace(name)
    return {"deleted": name}


@router.put("/{name}/members/{user_id}")
def add_member(name: NamePath, user_id: NamePath, body: Member, caller: Caller, users: TeamUsers) -> dict[str, Any]:
    require_admin(caller, "Adding a workspace member")
    users.add_member(name, user_id, body.role)
    return {"workspace": name, "user": user_id, "role": body.role}


@router.delete("/{name}/members/{user_id}")
def remove_member(name: NamePath, user_id: NamePath, caller: Caller, users: TeamUsers) -> dict[str, Any]:
    require_admin(caller, "Removing a workspace member")
    users.remove_member(name, user_id)
    return {"workspace": name, "user": user_id, "removed": True}
