"""Parsing the real shared catalogs, checked against an independent csv-module reading."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest
import rawgcp
from helpers import SHARED_CATALOG
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skyhop.catalog.load import load_catalog
from skyhop.catalog.offer import Offer
from skyhop.catalog.parse import parse_rows
from skyhop.errors import CatalogError

CLOUD_FILES = sorted(SHARED_CATALOG.glob("*/vms.csv"))
# Files that price every machine in one row; GCP's prices accelerators apart (see rawgcp).
ONE_ROW_FILES = [p for p in CLOUD_FILES if not rawgcp.has_accelerator_rows(p)]
HEADER = "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,Region,GpuInfo,SpotPrice\n"


def _positive(text: str | None) -> float | None:
    try:
        value = float(text or "")
    except ValueError:
        return None
    return value if value > 0 else None


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def csv_header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return next(csv.reader(handle))


def priced_rows(path: Path) -> list[dict[str, str]]:
    """Rows offered on demand or as spot, read with nothing but the csv module."""
    return [
        r
        for r in csv_rows(path)
        if (_positive(r.get("Price")) or _positive(r.get("SpotPrice"))) and r["Region"].strip() and r["InstanceType"].strip()
    ]


def offers(path: Path) -> list[Offer]:
    return [Offer._make(row) for row in parse_rows(path, path.parent.name)]


def test_the_shared_catalog_has_the_expected_clouds():
    clouds = [p.parent.name for p in CLOUD_FILES]
    assert len(clouds) == 17
    assert {"gcp", "lambda", "vast", "primeintellect", "verda", "spheron", "shadeform", "yotta"} <= set(clouds)
    assert [p.parent.name for p in CLOUD_FILES if p not in ONE_ROW_FILES] == ["gcp"]


@pytest.mark.parametrize("path", ONE_ROW_FILES, ids=lambda p: p.parent.name)
def test_every_shared_file_parses_to_one_offer_per_priced_row(path: Path):
    parsed = offers(path)
    expected = priced_rows(path)
    assert len(parsed) == len(expected) > 0
    cloud = path.parent.name
    assert {o.cloud for o in parsed} == {cloud}
    # Row by row, in file order: same instance type, region and prices.
    for offer, row in zip(parsed, expected):
        assert offer.instance_type == row["InstanceType"].strip()
        assert offer.region == row["Region"].strip()
        assert offer.price == _positive(row.get("Price"))
        assert offer.spot_price == _positive(row.get("SpotPrice"))
        assert offer.vcpus == _positive(row.get("vCPUs"))
        if _positive(row.get("AcceleratorCount")) and row["AcceleratorName"].strip():
            assert offer.accelerator and offer.accelerator_count == float(row["AcceleratorCount"])
        else:
            assert offer.accelerator is None and offer.accelerator_count == 0


def test_seeweb_rows_without_a_region_are_dropped():
    path = SHARED_CATALOG / "seeweb" / "vms.csv"
    rows = csv_rows(path)
    no_region = [r for r in rows if not r["Region"].strip()]
    assert len(rows) == 75 and len(no_region) == 16  # priced, but not placeable anywhere
    parsed = offers(path)
    assert len(parsed) == 75 - 16
    assert all(o.region for o in parsed)
    assert "ECS8GPU10" not in {o.instance_type for o in parsed}


def test_vast_zero_spot_placeholder_means_no_spot_offer():
    path = SHARED_CATALOG / "vast" / "vms.csv"
    assert {r["SpotPrice"] for r in csv_rows(path)} == {"0.00"}
    parsed = offers(path)
    assert parsed and all(o.spot_price is None for o in parsed)
    assert all(o.price is not None and o.price > 0 for o in parsed)


def test_blank_price_with_a_spot_price_is_a_spot_only_offer():
    path = SHARED_CATALOG / "verda" / "vms.csv"
    spot_only = [r for r in csv_rows(path) if not r["Price"].strip() and _positive(r["SpotPrice"])]
    assert spot_only, "verda lists spot-only rows"
    parsed = {(o.instance_type, o.region): o for o in offers(path)}
    for row in spot_only:
        offer = parsed[(row["InstanceType"], row["Region"])]
        assert offer.price is None
        assert offer.spot_price == float(row["SpotPrice"])
        assert offer.hourly(spot=False) is None and offer.hourly(spot=True) == float(row["SpotPrice"])
    assert parsed[("2B300.60V", "FIN-03")].spot_price == pytest.approx(4.893)


def test_availability_zone_becomes_zone():
    path = SHARED_CATALOG / "primeintellect" / "vms.csv"
    parsed = offers(path)
    expected = [r["AvailabilityZone"].strip() or None for r in priced_rows(path)]
    assert [o.zone for o in parsed] == expected
    assert "us-midwest-1" in expected
    first = parsed[0]
    assert (first.region, first.zone) == ("US", "us-midwest-1")


def test_files_without_a_zone_column_have_no_zones(shared_catalog):
    with_zones = {p.parent.name for p in CLOUD_FILES if "AvailabilityZone" in csv_header(p)}
    assert with_zones == {"gcp", "primeintellect"}
    assert {o.zone for o in shared_catalog.offers if o.cloud not in with_zones} == {None}
    assert None not in {o.zone for o in shared_catalog.offers if o.cloud == "gcp"}


def _one(path: Path, instance_type: str, **where) -> Offer:
    found = [o for o in offers(path) if o.instance_type == instance_type and all(getattr(o, k) == v for k, v in where.items())]
    assert found, f"{instance_type} not in {path}"
    return found[0]


@pytest.mark.parametrize(
    ("cloud", "instance_type", "accelerator", "count", "per_device_gib"),
    [
        ("lambda", "gpu_8x_h100_sxm5", "H100", 8, 80.0),  # SizeInMiB per device, Total == Size
        ("lambda", "gpu_2x_a100", "A100", 2, 40.0),
        ("shadeform", "massedcompute_A6000x8", "RTXA6000", 8, 48.0),  # GiB written where MiB is meant
        ("vast", "2x-H100_SXM-32-65536", "H100", 2, 79.6),  # SizeInMiB is the node's total
        ("vast", "4x-H100_SXM-32-65536", "H100", 4, 79.6),
        ("vast", "2x-H200-32-65536", "H200", 2, 140.4),
        ("primeintellect", "lambdalabs__8xA100_80GB__240__1800", "A100-80GB", 8, 80.0),  # node total, Total = Size x count
        ("primeintellect", "hyperstack__2xH100_80GB__60__360", "H100", 2, 80.0),
        ("primeintellect", "datacrunch__4xV100_16GB__20__90", "V100", 4, 16.0),
        ("daytona", "8x-B300", "B300", 8, 288.0),
        ("yotta", "2x28v238g_NVIDIA_GeForce_RTX_5090_32G_SECURE", "RTX5090", 2, 31.8),  # GpuInfo says Count 1
        ("verda", "1B300.30V", "B300", 1, 262.0),
    ],
)
def test_gpu_memory_is_per_device(cloud, instance_type, accelerator, count, per_device_gib):
    offer = _one(SHARED_CATALOG / cloud / "vms.csv", instance_type)
    assert offer.accelerator == accelerator
    assert offer.accelerator_count == count
    assert offer.gpu_memory_gib == pytest.approx(per_device_gib, abs=0.05)


# Per-device memory of every product, whatever the count per node (known variants included).
PLAUSIBLE_GIB = {"H100": (79, 95), "H200": (139, 142), "A100-80GB": (79, 81), "B200": (178, 181), "L40S": (44, 49), "RTX4090": (23, 49), "V100": (15, 17)}


def test_gpu_memory_does_not_scale_with_the_count(shared_catalog):
    seen = set()
    for offer in shared_catalog.offers:
        if offer.gpu_memory_gib is None:
            continue
        assert 4 <= offer.gpu_memory_gib <= 320, offer
        bounds = PLAUSIBLE_GIB.get(offer.accelerator)
        if bounds:
            seen.add(offer.accelerator)
            assert bounds[0] <= offer.gpu_memory_gib <= bounds[1], offer
    assert seen == set(PLAUSIBLE_GIB)


def test_cpu_rows_have_no_accelerator_or_gpu_memory():
    cpu = [o for o in offers(SHARED_CATALOG / "lambda" / "vms.csv") if o.instance_type == "cpu_4x_generalx"]
    assert cpu and all(o.accelerator is None and o.accelerator_count == 0 and o.gpu_memory_gib is None for o in cpu)
    assert cpu[0].vcpus == 4 and cpu[0].memory_gib == 16 and cpu[0].price == 0.2


def test_a_file_without_instance_type_column_is_an_error_naming_the_file(tmp_path: Path):
    bad = tmp_path / "acme" / "vms.csv"
    bad.parent.mkdir()
    bad.write_text("Name,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,Region\nx,H100,8,96,1024,20.0,us-1\n")
    with pytest.raises(CatalogError) as caught:
        parse_rows(bad, "acme")
    assert str(bad) in str(caught.value)
    assert "InstanceType" in str(caught.value)


def test_a_malformed_file_fails_the_whole_load_with_its_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = tmp_path / "catalog"
    (root / "lambda").mkdir(parents=True)
    (root / "lambda" / "vms.csv").write_bytes((SHARED_CATALOG / "lambda" / "vms.csv").read_bytes())
    (root / "acme").mkdir()
    (root / "acme" / "vms.csv").write_text("Region,Price\nus-1,1.0\n")
    monkeypatch.setenv("SKYHOP_CATALOG_DIR", str(root))
    with pytest.raises(CatalogError, match=r"acme[/\\]vms\.csv lacks column\(s\) InstanceType"):
        load_catalog()


def test_empty_and_header_only_files_have_no_offers(tmp_path: Path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    header_only = tmp_path / "header.csv"
    header_only.write_text(HEADER)
    assert parse_rows(empty, "x") == []
    assert parse_rows(header_only, "x") == []


def test_an_unreadable_file_is_a_catalog_error(tmp_path: Path):
    with pytest.raises(CatalogError, match="Cannot read catalog file"):
        parse_rows(tmp_path / "missing.csv", "x")


def test_zero_negative_blank_and_garbage_prices_are_not_offers(tmp_path: Path):
    path = tmp_path / "vms.csv"
    path.write_text(
        HEADER
        + "a,,,2,8,0,r1,,\n"
        + "b,,,2,8,-1.5,r1,,-2\n"
        + "c,,,2,8,,r1,,\n"
        + "d,,,2,8,n/a,r1,,nan\n"
        + "e,,,2,8,0.10,r1,,0.00\n"
        + "f,,,2,8,,r1,,0.03\n"
        + "g,,,2,8,0.5,,,\n"  # no region: not launchable
    )
    got = {o.instance_type: (o.price, o.spot_price) for o in map(Offer._make, parse_rows(path, "x"))}
    assert got == {"e": (0.10, None), "f": (None, 0.03)}


def test_columns_are_found_by_name_in_any_order(tmp_path: Path):
    path = tmp_path / "vms.csv"
    path.write_text(
        "SpotPrice,Region,Extra,Price,AcceleratorCount,AcceleratorName,InstanceType,vCPUs,AvailabilityZone\n"
        "0.7,us-1,whatever,2.5,2,H100_SXM5,gpu_2x,52,us-1b\n"
    )
    (offer,) = map(Offer._make, parse_rows(path, "acme"))
    assert offer == Offer("acme", "gpu_2x", "H100", 2.0, 52.0, None, "us-1", "us-1b", 2.5, 0.7, None)


def test_short_long_and_bom_rows(tmp_path: Path):
    path = tmp_path / "vms.csv"
    # A BOM as a spreadsheet writes it; a short row; a row with a stray extra field.
    path.write_bytes(
        ("\ufeff" + HEADER + "short,,,4,16,0.2,r1\n" + "long,,,4,16,0.3,r2,,,stray-value\n").encode("utf-8")
    )
    got = {o.instance_type: o for o in map(Offer._make, parse_rows(path, "x"))}
    assert set(got) == {"short", "long"}
    assert got["short"].price == 0.2 and got["short"].spot_price is None
    assert got["long"].zone is None and got["long"].spot_price is None


def test_a_duplicated_column_does_not_shift_absent_columns(tmp_path: Path):
    path = tmp_path / "vms.csv"
    path.write_text("InstanceType,Region,Price,Price,SpotPrice\nx,r1,1.0,1.5,0.25\n")
    (offer,) = map(Offer._make, parse_rows(path, "x"))
    assert offer.zone is None and offer.vcpus is None and offer.gpu_memory_gib is None
    assert offer.spot_price == 0.25


def _gpu_file(tmp_path: Path, sizes: dict[int, int], total: str) -> Path:
    """A file whose GpuInfo writes SizeInMiB `sizes[count]` for each count."""
    path = tmp_path / f"vms-{total}.csv"
    lines = [HEADER]
    for count, size in sizes.items():
        info = f"{{'Gpus': [{{'Name': 'X1', 'Count': {count}, 'MemoryInfo': {{'SizeInMiB': {size}}}}}], 'TotalGpuMemoryInMiB': {size}}}"
        lines.append(f'{count}x,X1,{count},8,64,{count}.0,r1,"{info}",\n')
    path.write_text("".join(lines))
    return path


def test_size_convention_is_read_from_the_files_own_single_gpu_rows(tmp_path: Path):
    per_device = _gpu_file(tmp_path, {1: 24576, 2: 24576, 4: 24576}, "per-device")
    node_total = _gpu_file(tmp_path, {1: 24576, 2: 49152, 4: 98304}, "node-total")
    assert {o.gpu_memory_gib for o in map(Offer._make, parse_rows(per_device, "x"))} == {24.0}
    assert {o.gpu_memory_gib for o in map(Offer._make, parse_rows(node_total, "x"))} == {24.0}


def test_without_single_gpu_rows_only_impossible_sizes_are_divided(tmp_path: Path):
    path = _gpu_file(tmp_path, {2: 163840, 8: 655360}, "no-singles")
    got = {o.accelerator_count: o.gpu_memory_gib for o in map(Offer._make, parse_rows(path, "x"))}
    assert got == {2.0: 160.0, 8.0: 80.0}



PRICE_TEXT = st.one_of(
    st.sampled_from(["", " ", "0", "0.00", "-1", "-0.5", "n/a", "nan", "inf", "1e400"]),
    st.floats(min_value=0.0001, max_value=500).map(lambda v: f"{v:.4f}"),
)
COLUMNS = {
    "InstanceType": st.sampled_from(["a.large", "b.8x", " padded ", ""]),
    "Region": st.sampled_from(["us-1", "eu-2", "", "Texas, US, NA"]),
    "AvailabilityZone": st.sampled_from(["", "us-1a"]),
    "AcceleratorName": st.sampled_from(["", "H100_SXM5", "A6000", "L4"]),
    "AcceleratorCount": st.sampled_from(["", "0", "1", "8.0"]),
    "Price": PRICE_TEXT,
    "SpotPrice": PRICE_TEXT,
}


def _finite_positive(text: str) -> float | None:
    value = _positive(text)
    return value if value is not None and value != float("inf") else None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.fixed_dictionaries(COLUMNS), max_size=12), columns=st.permutations(list(COLUMNS)), crlf=st.booleans())
def test_any_column_order_and_price_spelling(tmp_path: Path, rows, columns, crlf):
    path = tmp_path / "vms.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns, lineterminator="\r\n" if crlf else "\n")
        writer.writeheader()
        writer.writerows(rows)
    parsed = list(map(Offer._make, parse_rows(path, "x")))
    expected = []
    for row in rows:
        price, spot = _finite_positive(row["Price"]), _finite_positive(row["SpotPrice"])
        if (price or spot) and row["Region"].strip() and row["InstanceType"].strip():
            expected.append((row["InstanceType"].strip(), row["Region"], row["AvailabilityZone"] or None, price, spot))
    assert [(o.instance_type, o.region, o.zone, o.price, o.spot_price) for o in parsed] == expected
    for offer in parsed:
        assert offer.accelerator in (None, "H100", "RTXA6000", "L4")
        assert (offer.accelerator is None) == (offer.accelerator_count == 0)


# -- a file that prices machines and accelerators apart (GCP) ---------------------

# skyhop's one rename among GCP's accelerator names (the same H100 SXM device).
_GCP_RENAMED = {"H100-MEGA": "H100"}


def test_gcp_offers_are_the_machine_and_accelerator_rows_joined():
    path = SHARED_CATALOG / "gcp" / "vms.csv"

    def key(instance, acc, count, region, zone, price, spot, vcpus):
        return (instance, acc or None, float(count), region, zone, None if price is None else round(price, 9), None if spot is None else round(spot, 9), vcpus)

    parsed = Counter(key(o.instance_type, o.accelerator, o.accelerator_count, o.region, o.zone, o.price, o.spot_price, o.vcpus) for o in offers(path))
    expected = Counter(
        key(o["InstanceType"], _GCP_RENAMED.get(o["AcceleratorName"], o["AcceleratorName"]), o["AcceleratorCount"], o["Region"], o["AvailabilityZone"], o["Price"], o["SpotPrice"], _positive(o["vCPUs"]))
        for o in rawgcp.offers(path)
    )
    assert parsed == expected
    names = {name for (_, name, *_rest) in parsed}
    assert {"T4", "V100", "P100", "P4", "A100", "A100-80GB", "H100", "H200", "B200", "L4", "tpu-v5litepod-8", "tpu-v2-8"} <= names


def _gcp_like(tmp_path: Path, body: str) -> list[Offer]:
    path = tmp_path / "gcp" / "vms.csv"
    path.parent.mkdir()
    path.write_text("InstanceType,vCPUs,MemoryGiB,AcceleratorName,AcceleratorCount,GpuInfo,Region,AvailabilityZone,Price,SpotPrice\n" + body)
    return offers(path)


def test_attached_accelerators_join_only_within_their_zone(tmp_path):
    parsed = _gcp_like(
        tmp_path,
        "n1-highmem-4,4,26,,,,r1,r1-a,0.2,0.05\n"
        "n1-standard-1,1,3.75,,,,r1,r1-a,0.05,0.01\n"  # too small a host for a T4 (4+ vCPUs by default)
        "n1-highmem-4,4,26,,,,r1,r1-b,0.2,\n"  # no spot host here: the joined offer is on-demand only
        ",,,T4,1,,r1,r1-a,0.35,0.1\n"
        ",,,T4,1,,r1,r1-b,0.35,0.1\n"
        ",,,T4,1,,r1,r1-c,0.35,0.1\n"  # no host in r1-c: no offer
        "a2-highgpu-1g,12,85,,,,r1,r1-a,0.9,0.4\n"  # never offered alone
        ",,,A100,1,\"{'Gpus': [{'MemoryInfo': {'SizeInMiB': 40960}}]}\",r1,r1-a,1.7,1.3\n"
        "a3-edgegpu-8g,208,1872,,,,r1,r1-a,9.0,3.0\n"  # a GPU family no rule covers: dropped
        ",,,X9,1,,r1,r1-a,1.0,0.5\n"  # an accelerator with no known host: dropped
        ",,,tpu-v2-8,1,tpu-v2-8,r1,r1-a,4.5,1.35\n"
        "a4-highgpu-8g,224,3968,,,,r1,r1-a,0.0,0.0\n"  # 0.0: the B200 row holds the whole price
        ",,,B200,8,,r1,r1-a,64.44,41.08\n"
        ",,,L4,1,,r1,r1-a,0.3,0.1\n",  # its g2 machines are not in this zone: no offer
    )
    got = {(o.instance_type, o.accelerator, o.zone): (o.price, o.spot_price) for o in parsed}
    assert got == {
        ("n1-highmem-4", None, "r1-a"): (0.2, 0.05),
        ("n1-standard-1", None, "r1-a"): (0.05, 0.01),
        ("n1-highmem-4", None, "r1-b"): (0.2, None),
        ("n1-highmem-4", "T4", "r1-a"): (pytest.approx(0.55), pytest.approx(0.15)),
        ("n1-highmem-4", "T4", "r1-b"): (pytest.approx(0.55), None),
        ("a2-highgpu-1g", "A100", "r1-a"): (pytest.approx(2.6), pytest.approx(1.7)),
        ("TPU-VM", "tpu-v2-8", "r1-a"): (4.5, 1.35),
        ("a4-highgpu-8g", "B200", "r1-a"): (64.44, 41.08),
    }
    a100 = next(o for o in parsed if o.accelerator == "A100")
    assert (a100.vcpus, a100.memory_gib, a100.gpu_memory_gib) == (12, 85, 40.0)
