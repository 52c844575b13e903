"""`/api/v1/orphans`: cloud resources with this installation's marks that no cluster owns.

Listing asks every provider that is set up here (a few cloud calls each), so
it is its own route, asked by `status --refresh` and `down --orphans`, not part
of every status. Removing them is a request (`down-orphans`), logged and
resumable like `down`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from skyhop.server.auth import policy
from skyhop.server.deps import Caller, Store

router = APIRouter(tags=["orphans"])


@router.get("/api/v1/orphans")
def orphans(store: Store, caller: Caller) -> dict[str, Any]:
    """`{"orphans": [{key, provider, kind, id, region, cluster, created_at}], "unchecked": [{provider, reason}]}`.

    Orphans belong to no cluster, hence to no user: only a role that sees every user's resources lists them."""
    from skyhop.execution import orphans as found

    policy.owners(caller, all_users=True)
    return found.find(store).to_json()
