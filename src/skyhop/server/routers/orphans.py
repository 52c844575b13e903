"""`/api/v1/orphans`: cloud resources with this installation's marks that no cluster owns.

Listing asks every provider that is set up here (a few cloud calls each), so
it is its own route, asked by `status --refresh` and `down --orphans`, not part
of every status. Removing them is a request (`down-orphans`), logged and
resumable like `down`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from skyhop.server.deps import Store
from skyhop.server.openapi import errors

router = APIRouter(tags=["orphans"])


@router.get("/api/v1/orphans", responses=errors(400))
def orphans(store: Store) -> dict[str, Any]:
    """`{"orphans": [{key, provider, kind, id, region, cluster, created_at}], "unchecked": [{provider, reason}]}`."""
    from skyhop.execution import orphans as found

    return found.find(store).to_json()
