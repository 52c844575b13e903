"""`Offer`: one instance type in one region (and zone) at one price."""

from __future__ import annotations

from typing import NamedTuple


class Offer(NamedTuple):
    """One launchable machine shape.

    A NamedTuple rather than a frozen dataclass: catalogs hold 100k+ offers
    and tuple construction is ~10x cheaper, which keeps catalog loading and
    the parsed on-disk cache fast. It is just as immutable.

    `price`/`spot_price` are USD per hour per node; `None` means "not offered
    that way" (catalogs write a blank or `0.00` for that).
    """

    cloud: str
    instance_type: str
    accelerator: str | None
    accelerator_count: float
    vcpus: float | None
    memory_gib: float | None
    region: str
    zone: str | None
    price: float | None
    spot_price: float | None
    gpu_memory_gib: float | None

    def hourly(self, spot: bool) -> float | None:
        return self.spot_price if spot else self.price

    @property
    def location(self) -> tuple[str, str]:
        return (self.cloud, self.region)

    def describe_accelerators(self) -> str:
        if not self.accelerator:
            return "-"
        count = self.accelerator_count
        return f"{self.accelerator}:{int(count) if float(count).is_integer() else count}"
