"""Catalog CSV files (SkyPilot v8 layout) -> offers.

Clouds order and name their columns a little differently; columns are found
by header name. `GpuInfo` is a Python literal in some files and JSON in
others and is only mined for GPU memory, by pattern, because evaluating it per
row would dominate load time.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Iterator

from skyhop.errors import CatalogError
from skyhop.spec.accelerators import canonical_accelerator

_SIZE = re.compile(r"""["']SizeInMiB["']\s*:\s*([0-9.]+)""")
_TOTAL = re.compile(r"""["']TotalGpuMemoryInMiB["']\s*:\s*([0-9.]+)""")
REQUIRED_COLUMNS = ("InstanceType", "Region")
_MAX_DEVICE_GIB = 320

# A row tuple as stored in the parsed cache; `Offer._make` turns it into an Offer.
Row = tuple


def _number(text: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value else None


def _price(text: str) -> float | None:
    """Blank, zero, negative or unparsable prices mean "not offered"."""
    value = _number(text)
    return value if value is not None and value > 0 else None


def gpu_memory_gib(gpu_info: str, count: float) -> float | None:
    """Per-device GPU memory in GiB from a `GpuInfo` cell, when it says.

    Catalogs disagree on what `SizeInMiB` holds (per device in most, the
    total in some) and some write GiB where MiB is meant; no device has more
    than `_MAX_DEVICE_GIB`, which tells the cases apart.
    """
    if not gpu_info:
        return None
    size = _SIZE.search(gpu_info) or _TOTAL.search(gpu_info)
    if not size:
        return None
    value = float(size.group(1))
    gib = value if value < 1024 else value / 1024  # small numbers are GiB already
    if gib > _MAX_DEVICE_GIB and count > 1:
        gib /= count
    return round(gib, 1) if gib > 0 else None


def parse_rows(path: Path, cloud: str) -> list[Row]:
    """All offers in one `vms.csv`, as plain tuples in `Offer` field order."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as error:
        raise CatalogError(f"Cannot read catalog file {path}: {error}") from None
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return []
        column = {name.strip(): index for index, name in enumerate(header)}
        missing = [c for c in REQUIRED_COLUMNS if c not in column]
        if missing:
            raise CatalogError(f"Catalog file {path} lacks column(s) {', '.join(missing)}; is it a SkyPilot v8 vms.csv?")
        return list(_rows(reader, column, cloud))


def _rows(reader: Iterator[list[str]], column: dict[str, int], cloud: str) -> Iterator[Row]:
    width = len(column)

    def index(name: str) -> int:
        return column.get(name, width)

    i_type, i_acc, i_count = index("InstanceType"), index("AcceleratorName"), index("AcceleratorCount")
    i_cpu, i_mem, i_price = index("vCPUs"), index("MemoryGiB"), index("Price")
    i_spot, i_region, i_zone, i_gpu = index("SpotPrice"), index("Region"), index("AvailabilityZone"), index("GpuInfo")
    canonical_names: dict[str, str] = {}
    for raw in reader:
        if len(raw) < width:
            raw = raw + [""] * (width - len(raw))
        raw.append("")  # the slot that absent columns point at
        price, spot = _price(raw[i_price]), _price(raw[i_spot])
        if price is None and spot is None:
            continue
        region = raw[i_region].strip()
        instance = raw[i_type].strip()
        if not region or not instance:
            continue
        acc_raw = raw[i_acc].strip()
        count = _number(raw[i_count]) or 0.0
        if acc_raw and count > 0:
            acc = canonical_names.get(acc_raw)
            if acc is None:
                acc = canonical_names[acc_raw] = canonical_accelerator(acc_raw)
            gpu_mem = gpu_memory_gib(raw[i_gpu], count)
        else:
            acc, count, gpu_mem = None, 0.0, None
        zone = raw[i_zone].strip() or None
        yield (cloud, instance, acc, count, _number(raw[i_cpu]), _number(raw[i_mem]), region, zone, price, spot, gpu_mem)
