"""Generate a deterministic synthetic price catalog in the SkyPilot v8 layout.

    .venv/bin/python benchmarks/gen_catalog.py benchmarks/out/catalog-100k [--offers 100000] [--seed 0]

Writes `<dir>/<cloud>/vms.csv` for nine clouds with the quirks of the real
files: per-cloud column orders, extra columns, CRLF and LF line endings, an
`AvailabilityZone` column on some clouds, `GpuInfo` as a Python literal or as
JSON, `SizeInMiB` per device on most clouds and the node's total on vast,
`0.00` spot placeholders (vast), spot-only rows (blank Price), rows with no
price at all (not offers), and several spellings of one accelerator.

Exactly `--offers` rows carry a price (on-demand or spot), so the parsed
catalog has exactly that many offers. The same seed gives byte-identical
files.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

# Share of all offers per cloud (hyperscalers dominate, as in the real catalogs).
SHARES = {
    "aws": 0.36, "gcp": 0.20, "azure": 0.18, "oci": 0.08, "runpod": 0.07,
    "vast": 0.04, "lambda": 0.03, "primeintellect": 0.03, "nebius": 0.01,
}  # fmt: skip

DEFAULT_COLUMNS = ["InstanceType", "AcceleratorName", "AcceleratorCount", "vCPUs", "MemoryGiB", "Price", "Region", "GpuInfo", "SpotPrice"]
ZONE_COLUMNS = ["InstanceType", "AcceleratorName", "AcceleratorCount", "vCPUs", "MemoryGiB", "Price", "SpotPrice", "Region", "AvailabilityZone", "GpuInfo"]


@dataclass(frozen=True)
class CloudStyle:
    columns: list[str]
    crlf: bool
    json_gpu_info: bool
    spot_share: float  # rows with a spot price
    spot_only_share: float  # of those, rows with no on-demand price
    gpu_only: bool  # a GPU cloud: few or no CPU-only types
    zones_per_region: tuple[int, int] = (0, 0)
    size_is_node_total: bool = False
    spot_placeholder: bool = False  # vast writes 0.00 for "no spot"
    unpriced_share: float = 0.0  # extra rows with no price (dropped by the parser)


STYLES = {
    "aws": CloudStyle(ZONE_COLUMNS, False, False, 0.85, 0.0, False, (3, 6)),
    "gcp": CloudStyle(ZONE_COLUMNS, True, False, 0.9, 0.02, False, (3, 4)),
    "azure": CloudStyle(DEFAULT_COLUMNS[:5] + ["GpuInfo", "Price", "SpotPrice", "Region", "Generation"], True, False, 0.75, 0.03, False),
    "oci": CloudStyle(DEFAULT_COLUMNS, False, False, 0.0, 0.0, False, unpriced_share=0.02),
    "runpod": CloudStyle(DEFAULT_COLUMNS, True, True, 0.6, 0.05, True),
    "vast": CloudStyle(DEFAULT_COLUMNS[:5] + ["GpuInfo", "Price", "SpotPrice", "Region"], True, False, 0.0, 0.0, True, size_is_node_total=True, spot_placeholder=True),
    "lambda": CloudStyle(DEFAULT_COLUMNS, True, False, 0.0, 0.0, True),
    "nebius": CloudStyle(DEFAULT_COLUMNS, True, False, 0.5, 0.0, False),
    "primeintellect": CloudStyle(
        ["InstanceType", "UpstreamCloudId", "vCPUs", "MemoryGiB", "AcceleratorName", "AcceleratorCount", "GpuInfo", "Region", "AvailabilityZone", "Price", "SpotPrice"],
        True, True, 0.3, 0.5, True, (1, 3),
    ),  # fmt: skip
}

# Accelerator: (per-device on-demand $/h range, GiB per device, counts per node).
GPUS = {
    "H100": ((2.2, 4.5), 80, (1, 2, 4, 8)),
    "H200": ((3.2, 5.5), 141, (1, 2, 4, 8)),
    "B200": ((4.5, 7.5), 180, (1, 2, 4, 8)),
    "A100": ((1.1, 2.0), 40, (1, 2, 4, 8, 16)),
    "A100-80GB": ((1.5, 2.8), 80, (1, 2, 4, 8)),
    "L4": ((0.6, 0.9), 24, (1, 2, 4, 8)),
    "L40S": ((0.9, 1.8), 48, (1, 2, 4, 8)),
    "A10G": ((0.9, 1.3), 24, (1, 4, 8)),
    "T4": ((0.3, 0.6), 16, (1, 2, 4)),
    "V100": ((0.9, 2.6), 16, (1, 4, 8)),
    "RTX4090": ((0.3, 0.8), 24, (1, 2, 4, 8)),
    "RTXA6000": ((0.7, 1.1), 48, (1, 2, 4, 8)),
    "MI300X": ((3.0, 4.5), 192, (1, 8)),
}
# Which accelerators each cloud carries, and how it spells them.
CLOUD_GPUS = {
    "aws": {"H100": "H100", "H200": "H200", "B200": "B200", "A100": "A100", "A100-80GB": "A100-80GB", "L4": "L4", "L40S": "L40S", "A10G": "A10G", "T4": "T4", "V100": "V100"},
    "gcp": {"H100": "H100", "H200": "H200", "B200": "B200", "A100": "A100", "A100-80GB": "A100-80GB", "L4": "L4", "T4": "T4", "V100": "V100"},
    "azure": {"H100": "H100", "A100": "A100", "A100-80GB": "A100-80GB", "T4": "T4", "V100": "V100", "MI300X": "MI300X"},
    "oci": {"H100": "H100", "A100-80GB": "A100-80GB", "A10G": "A10G", "MI300X": "MI300X"},
    "runpod": {"H100": "H100-SXM", "H200": "H200-SXM", "A100-80GB": "A100-80GB-SXM", "L40S": "L40S", "L4": "L4", "RTX4090": "RTX4090", "RTXA6000": "RTXA6000"},
    "vast": {"H100": "H100_SXM5", "H200": "H200", "A100": "A100", "L40S": "L40S", "RTX4090": "RTX4090", "RTXA6000": "A6000", "V100": "V100"},
    "lambda": {"H100": "H100", "H200": "H200", "B200": "B200", "A100": "A100", "A100-80GB": "A100-80GB", "RTXA6000": "A6000", "V100": "V100"},
    "nebius": {"H100": "H100", "H200": "H200", "B200": "B200", "L40S": "L40S"},
    "primeintellect": {"H100": "H100", "H200": "H200", "A100-80GB": "A100-80GB", "L40S": "L40S", "RTXA6000": "RTXA6000", "RTX4090": "RTX4090"},
}
CPU_FAMILIES = {  # cloud -> (families, sizes)
    "aws": ([f"{p}{g}" for p in "mcrtxiz" for g in ("5", "5a", "6i", "6a", "6g", "7i", "7a", "7g", "8g")], ["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "32xlarge", "48xlarge"]),
    "gcp": ([f"{p}{g}" for p in ("n", "c", "e", "m", "t") for g in ("1", "2", "2d", "3", "4")], ["standard-2", "standard-4", "standard-8", "standard-16", "standard-32", "standard-64", "highmem-8", "highmem-32", "highcpu-16", "highcpu-64"]),
    "azure": ([f"Standard_{p}{v}" for p in ("D", "E", "F", "L", "M", "B") for v in ("s_v5", "as_v5", "ds_v5", "ps_v5", "s_v6", "ads_v6")], ["2", "4", "8", "16", "32", "48", "64", "96"]),
    "oci": ([f"{kind}.{family}{g}" for kind in ("VM", "BM") for family in ("Standard", "DenseIO", "Optimized") for g in ("2", "3", "E3", "E4", "E5", "A1", "A2")], ["1", "2", "4", "8", "16", "24", "32", "48", "64"]),
    "nebius": (["cpu-d3", "cpu-e2", "cpu-e3"], ["4", "8", "16", "32", "48", "64", "96", "128"]),
    "lambda": (["cpu_generalx"], ["4", "8", "16"]),
}


def regions_for(cloud: str, rng: random.Random) -> list[str]:
    if cloud == "aws":
        return [f"{geo}-{d}-{n}" for geo in ("us", "eu", "ap", "sa", "ca", "me", "af") for d in ("east", "west", "central", "north", "south") for n in (1, 2)][:34]
    if cloud == "gcp":
        return [f"{geo}-{d}{n}" for geo in ("us", "europe", "asia", "australia", "southamerica", "northamerica", "me") for d in ("east", "west", "central", "north", "south", "southeast") for n in (1, 2)][:44]
    if cloud == "azure":
        return [f"{geo}{d}{n}" for geo in ("east", "west", "central", "north", "south") for d in ("us", "europe", "asia", "india", "japan", "uk", "brazil") for n in ("", "2")][:62]
    if cloud == "oci":
        return [f"{geo}-{city}-1" for geo in ("us", "eu", "ap", "sa", "ca", "uk", "me") for city in ("ashburn", "phoenix", "frankfurt", "tokyo", "sydney", "saopaulo")]
    if cloud == "runpod":
        return [f"{cc}-{n}" for cc in ("US-TX", "US-CA", "US-GA", "EU-RO", "EU-SE", "EU-NL", "CA-MTL", "AP-JP", "EUR-IS", "US-KS") for n in range(1, 6)]
    if cloud == "vast":
        places = [("Texas", "US", "NA"), ("California", "US", "NA"), ("Ontario", "CA", "NA"), ("Bavaria", "DE", "EU"), ("", "FR", "EU"), ("Hokkaido", "JP", "AS"), ("Taiwan", "TW", "AS"), ("Victoria", "AU", "OC"), ("Sao Paulo", "BR", "SA"), ("Finland", "FI", "EU")]
        return [f"{a}, {b}, {c}" for a, b, c in places] + [f"Region {i}, XX, NA" for i in range(30)]
    if cloud == "lambda":
        return [f"{geo}-{d}-{n}" for geo in ("us", "europe", "asia", "me") for d in ("east", "west", "south", "central", "north") for n in (1, 2, 3)][:24]
    if cloud == "nebius":
        return [f"{geo}{n}" for geo in ("eu-north", "eu-west", "us-central", "me-west", "us-east", "uk-south", "ap-east", "us-west") for n in (1, 2)]
    if cloud == "primeintellect":
        return ["US", "CA", "FI", "AU", "JP", "DE", "NO", "IS", "GB", "FR", "NL", "SE", "IN", "SG", "BR"]
    raise ValueError(cloud)


@dataclass(frozen=True)
class Shape:
    instance_type: str
    accelerator: str  # as this cloud spells it ("" for CPU-only)
    count: int
    vcpus: float
    memory: float
    base_price: float  # on-demand $/h before the regional factor
    gib_per_device: float


def _vcpus(size: str) -> float:
    """vCPUs a size name stands for: `large` 2, `8xlarge` 32, `standard-16` 16, `48` 48."""
    if size == "large":
        return 2.0
    if size.endswith("xlarge"):
        return 4.0 * int(size[: -len("xlarge")] or 1)
    return float(size.rsplit("-", 1)[-1])


def shapes_for(cloud: str, rng: random.Random) -> list[Shape]:
    out: list[Shape] = []
    families, sizes = CPU_FAMILIES.get(cloud, ([], []))
    for family in families:
        per_vcpu = rng.uniform(0.018, 0.06)
        mem_per_vcpu = rng.choice((2, 4, 8, 16))
        for size in sizes:
            vcpus = _vcpus(size)
            out.append(Shape(f"{family}.{size}" if cloud in ("aws", "oci") else f"{family}-{size}", "", 0, vcpus, vcpus * mem_per_vcpu, vcpus * per_vcpu + vcpus * mem_per_vcpu * 0.004, 0))
    variants = 6 if STYLES[cloud].gpu_only else 3  # GPU clouds list many hosts of one shape
    for canonical, spelled in CLOUD_GPUS[cloud].items():
        (low, high), gib, counts = GPUS[canonical]
        for count in counts:
            for variant in range(variants):
                vcpus = float(count * rng.choice((8, 12, 16, 24, 26, 32)))
                memory = float(count * rng.choice((64, 96, 117, 128, 200, 225)))
                name = f"{count}x-{spelled}-{int(vcpus)}v-{variant}" if cloud != "aws" else f"p{variant + 4}{canonical.lower().replace('-', '')}.{count}xlarge"
                out.append(Shape(name, spelled, count, vcpus, memory, count * rng.uniform(low, high), gib + rng.choice((0, 0, 0, -0.4))))
    return out


def gpu_info(style: CloudStyle, shape: Shape) -> str:
    if not shape.accelerator:
        return ""
    mib = round(shape.gib_per_device * 1024)
    size = mib * shape.count if style.size_is_node_total else mib
    info = {"Gpus": [{"Name": shape.accelerator, "Manufacturer": "NVIDIA", "Count": shape.count, "MemoryInfo": {"SizeInMiB": size}}], "TotalGpuMemoryInMiB": mib * shape.count}
    return json.dumps(info) if style.json_gpu_info else repr(info)


def fmt(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".")


def generate_cloud(cloud: str, quota: int, seed: int) -> list[dict[str, str]]:
    rng = random.Random(f"{seed}-{cloud}")
    style = STYLES[cloud]
    shapes = shapes_for(cloud, rng)
    locations: list[tuple[str, str]] = []
    for region in regions_for(cloud, rng):
        low, high = style.zones_per_region
        zones = rng.randint(low, high) if high else 0
        locations.extend((region, f"{region}{'abcdef'[z]}" if cloud == "aws" else f"{region}-{'abcdef'[z]}") for z in range(zones))
        if not zones:
            locations.append((region, ""))
    factors = {region: rng.uniform(0.9, 1.35) for region, _ in locations}
    slots = [(shape, loc) for shape in shapes for loc in locations]
    if len(slots) < quota:
        raise SystemExit(f"{cloud}: only {len(slots)} shape x location slots for {quota} offers")
    rng.shuffle(slots)
    rows = []
    for index, (shape, (region, zone)) in enumerate(slots[:quota]):
        price = shape.base_price * factors[region]
        spot = ""
        if rng.random() < style.spot_share:
            spot = fmt(max(price * rng.uniform(0.2, 0.7), 0.0001))
        on_demand = fmt(price)
        if spot and rng.random() < style.spot_only_share:
            on_demand = ""
        if style.spot_placeholder:
            spot = "0.00"
        rows.append(_row(style, shape, region, zone, on_demand, spot, index))
    # Rows listed with no price at all: not offers, the parser drops them.
    for shape, (region, zone) in slots[quota : quota + int(quota * style.unpriced_share)]:
        rows.append(_row(style, shape, region, zone, "", "", -1))
    rows.sort(key=lambda r: (r["InstanceType"], r["Region"], r.get("AvailabilityZone", "")))
    return rows


def _row(style: CloudStyle, shape: Shape, region: str, zone: str, price: str, spot: str, index: int) -> dict[str, str]:
    return {
        "InstanceType": shape.instance_type,
        "UpstreamCloudId": shape.instance_type.lower(),
        "AcceleratorName": shape.accelerator,
        "AcceleratorCount": f"{shape.count}.0" if shape.accelerator else "",
        "vCPUs": fmt(shape.vcpus),
        "MemoryGiB": fmt(shape.memory),
        "Price": price,
        "SpotPrice": spot,
        "Region": region,
        "AvailabilityZone": zone,
        "GpuInfo": gpu_info(style, shape),
        "Generation": "V2" if index % 3 else "V1",
    }


def quotas(offers: int) -> dict[str, int]:
    out = {cloud: int(offers * share) for cloud, share in SHARES.items()}
    out["aws"] += offers - sum(out.values())
    return out


def write(root: Path, offers: int = 100_000, seed: int = 0) -> dict[str, int]:
    """Write the catalog under `root` (replacing it); cloud -> offers written."""
    import csv

    if root.exists():
        shutil.rmtree(root)
    written = {}
    for cloud, quota in quotas(offers).items():
        style = STYLES[cloud]
        rows = generate_cloud(cloud, quota, seed)
        path = root / cloud / "vms.csv"
        path.parent.mkdir(parents=True)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, style.columns, extrasaction="ignore", lineterminator="\r\n" if style.crlf else "\n")
            writer.writeheader()
            writer.writerows(rows)
        written[cloud] = quota
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path, help="where to write <cloud>/vms.csv (replaced if it exists)")
    parser.add_argument("--offers", type=int, default=100_000, help="offers in total (default 100000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    written = write(args.directory, args.offers, args.seed)
    for cloud, count in written.items():
        print(f"{cloud:>15} {count:>7} offers", file=sys.stderr)
    print(f"{sum(written.values())} offers in {len(written)} clouds under {args.directory}", file=sys.stderr)


if __name__ == "__main__":
    main()
