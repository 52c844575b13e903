"""`/api/v1/admin/tokens`: API tokens. Anyone makes, lists and revokes their own; an admin, anyone's.

The token itself is in the answer of its creation only (the server keeps a
keyed hash); listings show ids, names and times. Another user's token is
answered as missing to a non-admin, so ids do not leak. A service token (a
job's API access) cannot make tokens: they would outlive the job that holds it; it
revokes none but itself.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from skyhop.errors import ForbiddenError, NotFoundError
from skyhop.server.auth.policy import require_admin
from skyhop.server.auth.principal import Principal
from skyhop.server.auth.tokens import team_users
from skyhop.server.deps import Caller
from skyhop.server.openapi import errors
from skyhop.state.users import NAME_PATTERN, TokenRecord, Users

router = APIRouter(prefix="/api/v1/admin/tokens", tags=["admin"], responses=errors(400, 404, 409))  # 409: team mode is off (single-user server)

TeamUsers = Annotated[Users, Depends(team_users)]
TokenIdPath = Annotated[str, Path(pattern=r"^[a-z2-7]{12}$")]
#: Ten years: a token that should never expire is one without `expires_in_s`.
MAX_LIFETIME_S = 10 * 365 * 86400


class NewToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")
    user: str | None = Field(default=None, pattern=f"^{NAME_PATTERN}$")
    expires_in_s: float | None = Field(default=None, ge=60, le=MAX_LIFETIME_S, allow_inf_nan=False)


def shown(token: TokenRecord) -> dict[str, Any]:
    """A token as the API shows it: never a hash or a secret (the record holds neither)."""
    record = asdict(token)
    record["user"] = record.pop("user_id")
    return record


@router.post("")
def create_token(body: NewToken, caller: Caller, users: TeamUsers) -> dict[str, Any]:
    if caller.acts_for is not None:
        raise ForbiddenError("A job's service token cannot make tokens: they would outlive the job. Use a personal token.")
    owner = body.user or caller.user
    if owner != caller.user:
        require_admin(caller, "Making a token for another user")
    expires_at = None if body.expires_in_s is None else time.time() + body.expires_in_s
    new = users.mint(owner, name=body.name, expires_at=expires_at)
    return {**shown(new.record), "token": new.secret}


@router.get("")
def list_tokens(caller: Caller, users: TeamUsers, user: Annotated[str | None, Query(pattern=f"^{NAME_PATTERN}$")] = None,
                all_users: bool = False) -> list[dict[str, Any]]:
    if all_users or (user is not None and user != caller.user):
        require_admin(caller, "Listing other users' tokens")
    owner = None if all_users else (user or caller.user)
    return [shown(token) for token in users.list_tokens(owner)]


@router.delete("/{token_id}")
def revoke_token(token_id: TokenIdPath, caller: Caller, users: TeamUsers) -> dict[str, Any]:
    token = users.get_token(token_id)
    if token is None or not _may_revoke(caller, token):
        raise NotFoundError(f"Token {token_id!r} does not exist.")
    return shown(users.revoke(token_id))


def _may_revoke(caller: Principal, token: TokenRecord) -> bool:
    """An admin any token, a user their own; a job's service token only itself: the job acts for its launcher on
    clusters and jobs, not on the credentials that launcher (or an admin launcher, anyone) logs in with."""
    if caller.acts_for is not None:
        return token.id == caller.token_id
    return caller.is_admin or token.user_id == caller.user
