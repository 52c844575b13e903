"""The shared catalog as the CSV files say it, read with nothing but `csv`.

Expected answers in the optimizer tests come from here, never from skyhop's
parser, alias table or index, so a bug there cannot hide in the expectation.
A file that prices machines and accelerators in separate rows (GCP's) is
read through `rawgcp`, which restates that layout's documented rules.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import rawgcp

# Raw AcceleratorName spellings in the shared catalogs that mean an H100 SXM
# (checked with grep). PCIe and NVL parts are spelled H100_PCIE, H100-80G-PCIe,
# H100-80G-PCIe-NVLink, H100_PCIE_BAREMETAL and H100_NVL and are not included.
# Caveat, from the data itself: lambda also writes plain "H100" for its
# gpu_1x_h100_pcie machines, and primeintellect for the PCIe n3-H100x8 it resells
# from hyperstack; a raw "H100" is taken at its word here, as skyhop does.
# GCP's "H100-MEGA" (a3-megagpu-8g) is the same H100 SXM device with more network
# bandwidth, and skyhop folds it into H100 like the other spellings.
H100_SXM_SPELLINGS = frozenset({"H100", "H100-SXM", "H100_SXM5", "H100-80G-SXM5", "H100-MEGA"})
# The shared catalogs spell H200 one way only.
H200_SPELLINGS = frozenset({"H200"})
# Used for ordered-preference tests: the consumer card has one spelling.
RTX4090_SPELLINGS = frozenset({"RTX4090"})


def _number(text: str | None) -> float | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _price(text: str | None) -> float | None:
    value = _number(text)
    return value if value is not None and value > 0 else None


@dataclass(frozen=True)
class RawRow:
    """One row of a vms.csv, as the file says it (spellings untouched)."""

    cloud: str
    instance_type: str
    accelerator: str  # raw AcceleratorName, "" when none
    count: float
    vcpus: float | None
    memory: float | None
    region: str
    zone: str | None
    price: float | None
    spot_price: float | None

    @property
    def cpu_only(self) -> bool:
        return not self.accelerator or self.count <= 0

    def hourly(self, spot: bool) -> float | None:
        return self.spot_price if spot else self.price

    def tie_key(self, spot: bool) -> tuple:
        """skyhop's documented tie-break: (cost, cloud, region, zone, instance_type)."""
        return (self.hourly(spot), self.cloud, self.region, self.zone or "", self.instance_type)

    @property
    def ident(self) -> tuple:
        return (self.cloud, self.instance_type, self.region, self.zone)


def _raw_row(cloud: str, row: dict, price: float | None, spot_price: float | None) -> RawRow:
    return RawRow(
        cloud=cloud,
        instance_type=(row.get("InstanceType") or "").strip(),
        accelerator=(row.get("AcceleratorName") or "").strip(),
        count=_number(str(row.get("AcceleratorCount") or "")) or 0.0,
        vcpus=_number(row.get("vCPUs")),
        memory=_number(row.get("MemoryGiB")),
        region=(row.get("Region") or "").strip(),
        zone=(row.get("AvailabilityZone") or "").strip() or None,
        price=price,
        spot_price=spot_price,
    )


class RawCatalog:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.rows: list[RawRow] = []
        self.clouds: list[str] = []
        for csv_path in sorted(root.glob("*/vms.csv")):
            cloud = csv_path.parent.name
            self.clouds.append(cloud)
            if rawgcp.has_accelerator_rows(csv_path):
                self.rows.extend(_raw_row(cloud, offer, offer["Price"], offer["SpotPrice"]) for offer in rawgcp.offers(csv_path))
                continue
            with csv_path.open(newline="", encoding="utf-8") as handle:
                for row in csv.DictReader(handle):
                    self.rows.append(_raw_row(cloud, row, _price(row.get("Price")), _price(row.get("SpotPrice"))))

    def csv_rows(self, cloud: str) -> list[dict[str, str]]:
        """One file's rows exactly as written."""
        with (self.root / cloud / "vms.csv").open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))

    def select(
        self,
        *,
        spellings: Iterable[str] | None = None,
        count: float | None = None,
        cpu_only: bool = False,
        spot: bool = False,
        cloud: str | None = None,
        region: str | None = None,
        zone: str | None = None,
        where: Callable[[RawRow], bool] | None = None,
        cap: float | None = None,
    ) -> list[RawRow]:
        """Rows priced for `spot` that pass every given filter."""
        names = set(spellings) if spellings is not None else None
        out = []
        for row in self.rows:
            price = row.hourly(spot)
            if price is None:
                continue
            if names is not None and (row.accelerator not in names or row.count != count):
                continue
            if cpu_only and not row.cpu_only:
                continue
            if cloud is not None and row.cloud != cloud:
                continue
            if region is not None and row.region != region:
                continue
            if zone is not None and row.zone != zone:
                continue
            if cap is not None and price > cap + 1e-9:
                continue
            if where is not None and not where(row):
                continue
            out.append(row)
        return out


@dataclass(frozen=True)
class Expected:
    price: float
    tied: frozenset  # idents of every row at the minimum price
    winner: RawRow  # the tie-break winner


def cheapest(rows: list[RawRow], spot: bool = False) -> Expected:
    assert rows, "the test's own scan found no offer; the expectation is wrong"
    best = min(r.hourly(spot) for r in rows)
    tied = [r for r in rows if abs(r.hourly(spot) - best) < 1e-9]
    return Expected(best, frozenset(r.ident for r in tied), min(tied, key=lambda r: r.tie_key(spot)))
