"""The download path, against a real HTTP server on 127.0.0.1 serving a copy of the catalogs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import SHARED_CATALOG, run_cli

from skyhop import paths, sdk
from skyhop.catalog.source import HOSTED_CLOUDS, META_FILE
from skyhop.errors import CatalogError

SHARED_CLOUDS = sorted(p.parent.name for p in SHARED_CATALOG.glob("*/vms.csv"))
MISSING_CLOUDS = sorted(set(HOSTED_CLOUDS) - set(SHARED_CLOUDS))


def cache_root() -> Path:
    return paths.catalog_cache_dir()


def meta() -> dict:
    return json.loads((cache_root() / META_FILE).read_text())


def sorted_offers(catalog) -> list:
    return sorted(catalog.offers, key=repr)


def bump_lambda_price(root: Path, new: str = "99.5") -> None:
    """Change one price upstream (gpu_1x_a10 costs 1.29 in every region)."""
    path = root / "lambda" / "vms.csv"
    data = path.read_bytes()
    assert b"gpu_1x_a10,A10,1.0,30.0,200.0,1.29," in data
    path.write_bytes(data.replace(b"gpu_1x_a10,A10,1.0,30.0,200.0,1.29,", b"gpu_1x_a10,A10,1.0,30.0,200.0," + new.encode() + b","))


def a10_prices(catalog) -> set:
    return {o.price for o in catalog.offers if o.instance_type == "gpu_1x_a10"}


def test_download_caches_and_matches_the_local_catalog(catalog_server, shared_catalog, isolated_home, capsys):
    catalog = sdk.load_catalog()
    assert sorted_offers(catalog) == sorted_offers(shared_catalog)
    assert catalog.clouds == shared_catalog.clouds
    # One request per hosted cloud, under the URL's path.
    assert catalog_server.clouds_requested() == sorted(HOSTED_CLOUDS)
    assert all(p.startswith("/catalogs/v8/") and p.endswith("/vms.csv") for p in catalog_server.requests)
    # Cached byte for byte (CRLF and all) in SKYHOP_HOME.
    assert cache_root() == isolated_home / ".skyhop" / "catalogs" / "v8"
    for cloud in SHARED_CLOUDS:
        assert (cache_root() / cloud / "vms.csv").read_bytes() == (SHARED_CATALOG / cloud / "vms.csv").read_bytes()
    # 404s are recorded as absent, downloads with their checksum.
    record = meta()
    assert sorted(c for c, r in record.items() if r.get("absent")) == MISSING_CLOUDS
    assert all(len(record[c]["sha256"]) == 64 and record[c]["url"] == catalog_server.url for c in SHARED_CLOUDS)
    assert not any((cache_root() / c).exists() for c in MISSING_CLOUDS)
    err = capsys.readouterr().err
    assert f"Fetching price catalogs for {len(HOSTED_CLOUDS)} cloud(s) from {catalog_server.url}" in err


def test_a_second_load_within_the_ttl_makes_no_request(catalog_server):
    first = sdk.load_catalog()
    catalog_server.reset()
    second = sdk.load_catalog()
    assert catalog_server.requests == []
    assert second.offers == first.offers


def test_absent_clouds_are_not_requested_again_within_the_ttl(catalog_server):
    sdk.load_catalog()
    (cache_root() / "lambda" / "vms.csv").unlink()  # forces a fetch, so a request happens
    catalog_server.reset()
    sdk.load_catalog()
    assert catalog_server.clouds_requested() == ["lambda"]
    catalog_server.reset()
    with pytest.raises(CatalogError, match=r"has no vms\.csv for aws"):
        sdk.load_catalog(["aws"])
    assert catalog_server.requests == []


def test_only_the_requested_clouds_are_fetched(catalog_server):
    catalog = sdk.load_catalog(["lambda", "vast"])
    assert catalog_server.clouds_requested() == ["lambda", "vast"]
    assert catalog.clouds == {"lambda", "vast"}
    assert len(catalog) == 408 + 67


def test_ttl_zero_downloads_changed_upstream_content(catalog_server, upstream, monkeypatch):
    assert a10_prices(sdk.load_catalog()) == {1.29}
    bump_lambda_price(upstream)
    assert a10_prices(sdk.load_catalog()) == {1.29}  # within the 24 h default TTL: the cache
    monkeypatch.setenv("SKYHOP_CATALOG_TTL_HOURS", "0")
    catalog_server.reset()
    assert a10_prices(sdk.load_catalog()) == {99.5}
    assert "lambda" in catalog_server.clouds_requested()
    assert (cache_root() / "lambda" / "vms.csv").read_bytes() == (upstream / "lambda" / "vms.csv").read_bytes()


def test_refresh_downloads_within_the_ttl(catalog_server, upstream):
    sdk.load_catalog()
    bump_lambda_price(upstream, "7.25")
    catalog_server.reset()
    assert a10_prices(sdk.load_catalog(refresh=True)) == {7.25}
    assert catalog_server.clouds_requested() == sorted(HOSTED_CLOUDS)


def test_a_cached_file_the_user_edited_is_never_overwritten(catalog_server, upstream, monkeypatch):
    sdk.load_catalog()
    cached = cache_root() / "lambda" / "vms.csv"
    mine = cached.read_bytes().replace(b"gpu_1x_a10,A10,1.0,30.0,200.0,1.29,", b"gpu_1x_a10,A10,1.0,30.0,200.0,0.01,")
    cached.write_bytes(mine)
    bump_lambda_price(upstream)
    monkeypatch.setenv("SKYHOP_CATALOG_TTL_HOURS", "0")
    catalog_server.reset()
    catalog = sdk.load_catalog()
    assert cached.read_bytes() == mine
    assert a10_prices(catalog) == {0.01}
    requested = catalog_server.clouds_requested()
    assert "lambda" not in requested and "vast" in requested  # the others do refresh
    assert sdk.load_catalog(refresh=True) and cached.read_bytes() == mine


def test_a_file_the_user_added_to_the_cache_is_kept(catalog_server, monkeypatch):
    sdk.load_catalog()
    own = cache_root() / "aws" / "vms.csv"  # aws is absent upstream
    own.parent.mkdir()
    own.write_text("InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,Region\np5.48xlarge,H100,8,192,2048,55.04,us-east-1\n")
    monkeypatch.setenv("SKYHOP_CATALOG_TTL_HOURS", "0")
    catalog = sdk.load_catalog()
    assert own.is_file()
    assert [o.instance_type for o in catalog.offers if o.cloud == "aws"] == ["p5.48xlarge"]


def test_server_down_with_a_stale_cache_uses_the_cache_and_warns(catalog_server, shared_catalog, monkeypatch, capsys):
    sdk.load_catalog()
    catalog_server.stop()
    monkeypatch.setenv("SKYHOP_CATALOG_TTL_HOURS", "0")
    capsys.readouterr()
    catalog = sdk.load_catalog()
    err = capsys.readouterr().err
    assert "Warning: could not download" in err and "unreachable" in err and "using the cached copy" in err
    assert sorted_offers(catalog) == sorted_offers(shared_catalog)
    for cloud in SHARED_CLOUDS:
        assert (cache_root() / cloud / "vms.csv").read_bytes() == (SHARED_CATALOG / cloud / "vms.csv").read_bytes()


def test_server_errors_are_reported_per_cloud(catalog_server, capsys):
    catalog_server.fail["vast"] = 500
    catalog = sdk.load_catalog()
    assert "vast" not in catalog.clouds and "lambda" in catalog.clouds
    assert "could not download vast: HTTP 500" in capsys.readouterr().err
    assert "vast" not in meta()  # not recorded absent: tried again next time
    del catalog_server.fail["vast"]
    catalog_server.reset()
    assert "vast" in sdk.load_catalog().clouds
    assert catalog_server.clouds_requested() == ["vast"]


def test_server_down_and_no_cache_is_a_clear_error(catalog_server):
    catalog_server.stop()
    with pytest.raises(CatalogError) as caught:
        sdk.load_catalog()
    message = str(caught.value)
    assert "SKYHOP_CATALOG_DIR" in message
    assert catalog_server.url in message and "unreachable" in message


def test_catalog_dir_pointing_nowhere_is_a_clear_error(tmp_path, monkeypatch):
    missing = tmp_path / "no-such-dir"
    monkeypatch.setenv("SKYHOP_CATALOG_DIR", str(missing))
    with pytest.raises(CatalogError) as caught:
        sdk.load_catalog()
    assert f"SKYHOP_CATALOG_DIR={missing} is not a directory" in str(caught.value)


def test_catalog_dir_without_the_wanted_cloud_names_it(tmp_path, monkeypatch):
    monkeypatch.setenv("SKYHOP_CATALOG_DIR", str(tmp_path))
    with pytest.raises(CatalogError, match="holds no <cloud>/vms.csv files"):
        sdk.load_catalog()
    monkeypatch.setenv("SKYHOP_CATALOG_DIR", str(SHARED_CATALOG))
    with pytest.raises(CatalogError, match="holds no catalog for aws"):
        sdk.load_catalog(["aws"])


def test_the_cli_downloads_from_the_local_server(catalog_server, isolated_home, shared_catalog):
    result = run_cli(
        isolated_home, "show-gpus", "H100:8", "--output", "json",
        SKYHOP_CATALOG_DIR="", SKYHOP_CATALOG_URL=catalog_server.url,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"from {catalog_server.url}" in result.stderr
    rows = json.loads(result.stdout)
    expected = [row.to_json() for row in sdk.show_gpus("H100:8", catalog=shared_catalog)]
    assert rows == expected and len(rows) > 5
    assert catalog_server.clouds_requested() == sorted(HOSTED_CLOUDS)
    assert (isolated_home / ".skyhop" / "catalogs" / "v8" / "lambda" / "vms.csv").is_file()
    # A second run is served from the cache: no request, no "Fetching" line.
    catalog_server.reset()
    again = run_cli(isolated_home, "show-gpus", "H100:8", "--output", "json", SKYHOP_CATALOG_DIR="", SKYHOP_CATALOG_URL=catalog_server.url)
    assert again.returncode == 0 and json.loads(again.stdout) == rows
    assert catalog_server.requests == [] and "Fetching" not in again.stderr
