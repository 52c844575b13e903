"""The parsed on-disk cache: used when current, bypassed when the CSV changed."""

from __future__ import annotations

import marshal
import os
import shutil
from pathlib import Path

import pytest
from helpers import SHARED_CATALOG

from skyhop import paths
from skyhop.catalog import load
from skyhop.catalog.offer import Offer
from skyhop.catalog.parse import parse_rows


@pytest.fixture
def catalog_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of two clouds, as SKYHOP_CATALOG_DIR."""
    root = tmp_path / "catalog"
    for cloud in ("lambda", "vast"):
        (root / cloud).mkdir(parents=True)
        shutil.copyfile(SHARED_CATALOG / cloud / "vms.csv", root / cloud / "vms.csv")
    monkeypatch.setenv("SKYHOP_CATALOG_DIR", str(root))
    return root


@pytest.fixture
def parse_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Clouds parsed from CSV, in order (the real parser still runs)."""
    calls: list[str] = []
    real = load.parse_rows

    def counting(path: Path, cloud: str):
        calls.append(cloud)
        return real(path, cloud)

    monkeypatch.setattr(load, "parse_rows", counting)
    return calls


def cache_files() -> list[Path]:
    return sorted(paths.parsed_cache_dir().glob("*.marshal"))


def test_first_load_parses_and_writes_the_cache(catalog_dir, parse_calls):
    assert cache_files() == []
    catalog = load.load_catalog()
    assert parse_calls == ["lambda", "vast"]
    files = cache_files()
    assert [f.name.split("-")[0] for f in files] == ["lambda", "vast"]
    assert not list(paths.parsed_cache_dir().glob("*.tmp"))
    expected = parse_rows(catalog_dir / "lambda" / "vms.csv", "lambda") + parse_rows(catalog_dir / "vast" / "vms.csv", "vast")
    assert list(catalog.offers) == [Offer._make(r) for r in expected]


def test_second_load_reads_the_cache_without_parsing(catalog_dir, monkeypatch):
    first = load.load_catalog()

    def refuse(path, cloud):
        raise AssertionError(f"parsed {cloud} again although its cache is current")

    monkeypatch.setattr(load, "parse_rows", refuse)
    second = load.load_catalog()
    assert second.offers == first.offers


def test_the_cache_content_is_what_a_second_load_returns(catalog_dir):
    load.load_catalog()
    lambda_cache = next(f for f in cache_files() if f.name.startswith("lambda-"))
    planted = [("lambda", "planted-type", "H100", 8.0, 208.0, 1800.0, "moon-1", None, 0.01, None, 80.0)]
    lambda_cache.write_bytes(marshal.dumps(planted))
    catalog = load.load_catalog()
    assert [o for o in catalog.offers if o.cloud == "lambda"] == [Offer._make(planted[0])]
    assert len([o for o in catalog.offers if o.cloud == "vast"]) == 67


def test_a_changed_csv_is_parsed_again(catalog_dir, parse_calls):
    load.load_catalog()
    parse_calls.clear()
    csv_path = catalog_dir / "lambda" / "vms.csv"
    with csv_path.open("ab") as handle:
        handle.write(b"gpu_1x_new,H100,1.0,26.0,225.0,0.42,moon-1,,\r\n")
    catalog = load.load_catalog()
    assert parse_calls == ["lambda"]  # vast's cache is still current
    new = [o for o in catalog.offers if o.instance_type == "gpu_1x_new"]
    assert len(new) == 1 and new[0].price == 0.42 and new[0].region == "moon-1"


def test_a_new_mtime_alone_is_parsed_again(catalog_dir, parse_calls):
    load.load_catalog()
    parse_calls.clear()
    csv_path = catalog_dir / "vast" / "vms.csv"
    stat = csv_path.stat()
    os.utime(csv_path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    load.load_catalog()
    assert parse_calls == ["vast"]
    load.load_catalog()
    assert parse_calls == ["vast"]


def test_same_size_edit_with_new_mtime_is_seen(catalog_dir):
    load.load_catalog()
    csv_path = catalog_dir / "vast" / "vms.csv"
    data = csv_path.read_bytes()
    assert b",2.65,0.00," in data
    edited = data.replace(b",2.65,0.00,", b",9.65,0.00,", 1)
    assert len(edited) == len(data)
    stat = csv_path.stat()
    csv_path.write_bytes(edited)
    os.utime(csv_path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    prices = {o.price for o in load.load_catalog().offers if o.instance_type == "1x-H200-32-65536"}
    assert 9.65 in prices


def test_a_corrupt_cache_file_is_replaced(catalog_dir, parse_calls):
    load.load_catalog()
    for file in cache_files():
        file.write_bytes(b"\x00garbage")
    parse_calls.clear()
    catalog = load.load_catalog()
    assert parse_calls == ["lambda", "vast"]
    assert len(catalog) == 408 + 67
    assert all(marshal.loads(f.read_bytes()) for f in cache_files())


def test_use_cache_false_neither_reads_nor_writes(catalog_dir, parse_calls):
    load.load_catalog(use_cache=False)
    assert cache_files() == [] and parse_calls == ["lambda", "vast"]


def test_an_unwritable_cache_only_costs_speed(catalog_dir, parse_calls, monkeypatch, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    monkeypatch.setattr(paths, "parsed_cache_dir", lambda: blocker / "cache")
    assert len(load.load_catalog()) == 408 + 67
    assert len(load.load_catalog()) == 408 + 67
    assert parse_calls == ["lambda", "vast", "lambda", "vast"]
