"""What infra can offer now, as the server sees it: live capacity of clouds that report it
(`/api/v1/availability`), and the machines of providers that list their own offers (`/api/v1/offers/NAME`:
this machine, SSH pools), which have no price catalog to read."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path

from skyhop.server.openapi import errors

router = APIRouter(tags=["availability"])


@router.get("/api/v1/availability")
def availability() -> list[dict[str, Any]]:
    """One entry per cloud with live availability: `{cloud, available: [[instance_type, region]], error}`."""
    from skyhop.providers.availability import live_availability

    return [cloud.to_json() for cloud in live_availability()]


@router.get("/api/v1/offers/{provider}", responses=errors(400, 404))
def own_offers(provider: Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]) -> dict[str, Any]:
    """`{provider, offers: [offer, ...]}` for a provider that lists its own offers; 404 for a catalog-priced one."""
    from skyhop.planning.space import own_offers as listed
    from skyhop.providers import registry

    if provider not in registry.names():
        raise HTTPException(404, f"No provider named {provider[:64]!r}.")
    offers = listed(provider)
    if offers is None:
        raise HTTPException(404, f"{provider} is priced by the catalog; it does not list its own offers.")
    return {"provider": provider, "offers": [offer._asdict() for offer in offers]}
