"""Catalog CSV files (SkyPilot v8 layout) -> offers.

Clouds order and name their columns a little differently; columns are found
by header name. `GpuInfo` is a Python literal in some files and JSON in
others and is only mined for GPU memory, by pattern, because evaluating it per
row would dominate load time.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path
from typing import Iterator

from skyhop.catalog.attached import combine, is_accelerator_row, is_priced
from skyhop.catalog.offer import Offer
from skyhop.errors import CatalogError
from skyhop.spec.accelerators import canonical_accelerator

_SIZE = re.compile(r"""["']SizeInMiB["']\s*:\s*([0-9.]+)""")
_TOTAL = re.compile(r"""["']TotalGpuMemoryInMiB["']\s*:\s*([0-9.]+)""")
REQUIRED_COLUMNS = ("InstanceType", "Region")
_MAX_DEVICE_GIB = 320

# A row tuple as stored in the parsed cache; `Offer._make` turns it into an Offer.
Row = tuple
_ACC, _COUNT, _GPU_MEM = (Offer._fields.index(name) for name in ("accelerator", "accelerator_count", "gpu_memory_gib"))


def _number(text: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _price(text: str) -> float | None:
    """Blank, zero, negative, infinite or unparsable prices mean "not offered"."""
    value = _number(text)
    return value if value is not None and value > 0 else None


def gpu_memory_gib(gpu_info: str) -> float | None:
    """GPU memory in GiB as a `GpuInfo` cell writes it, when it says.

    Catalogs disagree on what `SizeInMiB` holds (per device in most, the
    node's total in some) and some write GiB where MiB is meant:
    `per_device_memory` settles the first for a whole file; small numbers
    are taken as GiB.
    """
    if not gpu_info:
        return None
    size = _SIZE.search(gpu_info) or _TOTAL.search(gpu_info)
    if not size:
        return None
    value = float(size.group(1))
    gib = value if value < 1024 else value / 1024  # small numbers are GiB already
    return gib if gib > 0 else None


def _near(a: float, b: float) -> bool:
    return abs(a - b) <= 0.02 * b


def size_is_node_total(rows: list[Row]) -> bool | None:
    """Whether a file's `SizeInMiB` is the node's total rather than per device.

    A file's own rows tell: where an accelerator has single-device rows, a
    multi-device row's size either matches them (per device, e.g. lambda) or
    is `count` times them (node total, e.g. vast, primeintellect). None when
    the file has no such pair.
    """
    singles: dict[str, set[float]] = {}
    multiples: dict[tuple, int] = {}  # (accelerator, count, size) -> rows
    for row in rows:
        gib = row[_GPU_MEM]
        if gib:
            count = row[_COUNT]
            if count == 1:
                singles.setdefault(row[_ACC], set()).add(gib)
            elif count > 1:
                shape = (row[_ACC], count, gib)
                multiples[shape] = multiples.get(shape, 0) + 1
    votes = 0
    for (accelerator, count, gib), rows_of_shape in multiples.items():
        known = singles.get(accelerator, ())
        if any(_near(gib / count, single) for single in known):
            votes += rows_of_shape
        elif any(_near(gib, single) for single in known):
            votes -= rows_of_shape
    return None if votes == 0 else votes > 0


def per_device_memory(rows: list[Row]) -> list[Row]:
    """`rows`, in place, with GPU memory per device and rounded; without evidence
    from the file (`size_is_node_total`), no device has more than `_MAX_DEVICE_GIB`."""
    total = size_is_node_total(rows)
    for index, row in enumerate(rows):
        gib = row[_GPU_MEM]
        if gib is not None:
            count = row[_COUNT]
            if count > 1 and (total or (total is None and gib > _MAX_DEVICE_GIB)):
                gib /= count
            rows[index] = row[:_GPU_MEM] + (round(gib, 1),) + row[_GPU_MEM + 1 :]
    return rows


def parse_rows(path: Path, cloud: str) -> list[Row]:
    """All offers in one `vms.csv`, as plain tuples in `Offer` field order."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")  # -sig: a BOM from a spreadsheet
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
        rows = list(_rows(reader, column, cloud, len(header)))
    # Unpriced rows are kept until here: in a file that prices accelerators apart,
    # a machine row of 0.0 can be the free half of a priced pair.
    rows = combine(rows) if any(map(is_accelerator_row, rows)) else [row for row in rows if is_priced(row)]
    return per_device_memory(rows)


def _rows(reader: Iterator[list[str]], column: dict[str, int], cloud: str, width: int) -> Iterator[Row]:
    def index(name: str) -> int:
        return column.get(name, width)

    i_type, i_acc, i_count = index("InstanceType"), index("AcceleratorName"), index("AcceleratorCount")
    i_cpu, i_mem, i_price = index("vCPUs"), index("MemoryGiB"), index("Price")
    i_spot, i_region, i_zone, i_gpu = index("SpotPrice"), index("Region"), index("AvailabilityZone"), index("GpuInfo")
    canonical_names: dict[str, str] = {}
    for raw in reader:
        if len(raw) != width:  # short rows are padded, extra fields ignored
            raw = (raw + [""] * width)[:width]
        raw.append("")  # the slot that absent columns point at
        price, spot = _price(raw[i_price]), _price(raw[i_spot])
        region = raw[i_region].strip()
        instance = raw[i_type].strip()
        acc_raw = raw[i_acc].strip()
        count = _number(raw[i_count]) or 0.0
        if not region or not (instance or (acc_raw and count > 0)):
            continue
        if acc_raw and count > 0:
            # An accelerator priced alone keeps the name as written: `attached.combine` needs it.
            acc = canonical_names.get(acc_raw) if instance else acc_raw
            if acc is None:
                acc = canonical_names[acc_raw] = canonical_accelerator(acc_raw)
            gpu_mem = gpu_memory_gib(raw[i_gpu])  # as written; per_device_memory divides
        else:
            acc, count, gpu_mem = None, 0.0, None
        zone = raw[i_zone].strip() or None
        yield (cloud, instance, acc, count, _number(raw[i_cpu]), _number(raw[i_mem]), region, zone, price, spot, gpu_mem)
