"""The caller of a request, resolved once from its bearer token and passed explicitly to every service.

Identity never comes from a request body nor from the server process: a
local server acts for the Unix user who started it (one admin), a team
server for the token's user. Service functions take the `Principal` as a
parameter rather than asking a global, so a forgotten call site cannot act
for the wrong user (tests/server/test_identity_flow.py greps for such calls).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(str, enum.Enum):
    """ADMIN sees and changes everything; USER their own; VIEWER sees everything and changes nothing (finance)."""

    ADMIN = "admin"
    USER = "user"
    VIEWER = "viewer"


DEFAULT_WORKSPACE = "default"


@dataclass(frozen=True, slots=True)
class Principal:
    user: str
    role: Role
    workspace: str = DEFAULT_WORKSPACE  # where new resources of this caller go
    workspaces: frozenset[str] = frozenset({DEFAULT_WORKSPACE})
    token_id: str | None = None  # None: the local server's own token
    acts_for: str | None = None  # a service-account token: the human user whose job holds it

    @property
    def sees_all(self) -> bool:
        return self.role in (Role.ADMIN, Role.VIEWER)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def local(user: str) -> Principal:
    """The caller of a local (single-user) server: whoever holds its `server.json` is the machine's owner."""
    return Principal(user=user, role=Role.ADMIN)
