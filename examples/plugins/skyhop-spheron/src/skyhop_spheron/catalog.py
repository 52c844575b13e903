"""The deploy fields of an offer, from the `spheron` price catalog skyhop planned with.

skyhop's `Offer` carries what every cloud has (type, accelerators, region,
price). A Spheron deployment also needs the catalog's Spheron-only columns:
`Provider` (the marketplace seller), `OperatingSystem` and
`SpheronInstanceType`. They are read from the same `vms.csv` skyhop's
planner read (`skyhop.catalog.source.locate`), so the launch deploys exactly
the row that was priced.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

from skyhop.catalog.offer import Offer
from skyhop.providers.errors import NotSupportedError


@dataclass(frozen=True)
class DeployFields:
    """The `POST /api/deployments` fields an offer decides."""

    offer_id: str
    provider: str
    gpu_type: str
    gpu_count: int
    region: str
    operating_system: str
    instance_type: str  # DEDICATED, SPOT, ...

    def body(self, *, spot: bool) -> dict[str, object]:
        return {
            "provider": self.provider, "offerId": self.offer_id, "gpuType": self.gpu_type, "gpuCount": self.gpu_count,
            "region": self.region, "operatingSystem": self.operating_system,
            "instanceType": "SPOT" if spot else self.instance_type,
        }


def deploy_fields(offer: Offer) -> DeployFields:
    """The catalog row of `offer` (its offer id in its region); NotSupportedError when the catalog has none."""
    from skyhop.catalog.source import locate

    path = locate(["spheron"]).files.get("spheron")
    if path is not None:
        with open(path, newline="", encoding="utf-8") as rows:
            for row in csv.DictReader(rows):
                if row.get("InstanceType") == offer.instance_type and row.get("Region") == offer.region:
                    return DeployFields(
                        offer.instance_type, row.get("Provider") or "", row.get("AcceleratorName") or "",
                        int(float(row.get("AcceleratorCount") or 0)), offer.region,
                        row.get("OperatingSystem") or "ubuntu-22.04", row.get("SpheronInstanceType") or "DEDICATED",
                    )
    raise NotSupportedError(f"The spheron catalog has no offer '{offer.instance_type}' in region '{offer.region}'.")
