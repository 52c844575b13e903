"""`/api/v1/cost-report`: what every cluster lifetime cost."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter

from skyhop.server.deps import Store
from skyhop.server.openapi import errors

router = APIRouter(tags=["cost"])


@router.get("/api/v1/cost-report", responses=errors(400))
def cost_report(store: Store) -> list[dict[str, Any]]:
    from skyhop.execution import lifecycle
    from skyhop.server.services.managed_jobs import annotate_costs

    lifecycle.status(store)  # reconcile local clusters first (an autostop is a STOP)
    return annotate_costs(store, [asdict(line) for line in store.cost_report()])
