"""`skyhop catalog status|refresh` through the real CLI: the shared catalogs as SKYHOP_CATALOG_DIR,
and the download cache filled from a real HTTP server on 127.0.0.1 (`catalog_server`)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from helpers import SHARED_CATALOG, run_cli

from skyhop.catalog.source import HOSTED_CLOUDS, META_FILE

SHARED_CLOUDS = sorted(p.parent.name for p in SHARED_CATALOG.glob("*/vms.csv"))
CLOUD_KEYS = {"cloud", "source", "path", "url", "rows", "age_s", "stale"}


def data_lines(path: Path) -> int:
    """Rows counted without the CSV module: non-empty lines but the header (no catalog row spans lines)."""
    return sum(1 for line in path.read_bytes().splitlines() if line.strip()) - 1


def source_md_rows() -> dict[str, int]:
    """The `Data rows` column of ../shared/catalogs/SOURCE.md: counted when the files were copied."""
    rows = {}
    for match in re.finditer(r"^\| v8/(\w+)/vms\.csv \| \w+ \| \d+ \| (\d+) \|", (SHARED_CATALOG.parent / "SOURCE.md").read_text(), re.M):
        rows[match.group(1)] = int(match.group(2))
    return rows


def cli(home: Path, *args: str, server=None):
    """The CLI on the download cache (SKYHOP_CATALOG_DIR unset) when `server` is given, else on ../shared."""
    extra = {"SKYHOP_CATALOG_DIR": "", "SKYHOP_CATALOG_URL": server.url} if server is not None else {}
    return run_cli(home, "catalog", *args, **extra)


def as_json(result) -> object:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def by_cloud(report) -> dict[str, dict]:
    return {c["cloud"]: c for c in report["clouds"]}


def test_status_of_a_catalog_dir_counts_every_files_rows(isolated_home):
    report = as_json(cli(isolated_home, "status", "--output", "json"))
    assert set(report) == {"catalog_dir", "cache_dir", "url", "ttl_hours", "clouds"}
    assert report["catalog_dir"] == str(SHARED_CATALOG) and report["ttl_hours"] == 24
    clouds = by_cloud(report)
    assert sorted(clouds) == SHARED_CLOUDS
    for name, entry in clouds.items():
        path = SHARED_CATALOG / name / "vms.csv"
        assert set(entry) == CLOUD_KEYS
        assert (entry["source"], entry["path"], entry["url"], entry["stale"]) == ("dir", str(path), None, False)
        assert entry["rows"] == data_lines(path), name
        assert entry["age_s"] >= 0
    documented = source_md_rows()
    assert len(documented) >= 15 and all(clouds[name]["rows"] == rows for name, rows in documented.items())
    table = cli(isolated_home, "status")
    assert table.returncode == 0 and f"SKYHOP_CATALOG_DIR={SHARED_CATALOG}" in table.stdout
    assert re.search(r"^lambda\s+dir\s+408\s", table.stdout, re.M), table.stdout


def test_refresh_downloads_within_the_ttl_and_status_shows_the_cache(isolated_home, catalog_server, upstream):
    before = as_json(cli(isolated_home, "status", "-o", "json", server=catalog_server))
    assert before["catalog_dir"] is None and before["url"] == catalog_server.url
    assert {c["cloud"]: c["source"] for c in before["clouds"]} == {c: "not downloaded" for c in HOSTED_CLOUDS}
    assert catalog_server.requests == []  # status downloads nothing

    results = as_json(cli(isolated_home, "refresh", "-o", "json", server=catalog_server))
    assert {r["cloud"]: r["result"] for r in results} == {c: "updated" if c in SHARED_CLOUDS else "absent" for c in HOSTED_CLOUDS}
    assert all(set(r) == {"cloud", "result", "rows", "detail", "error"} for r in results)
    cache = isolated_home / ".skyhop" / "catalogs" / "v8"
    after = by_cloud(as_json(cli(isolated_home, "status", "-o", "json", server=catalog_server)))
    for name in SHARED_CLOUDS:
        assert (cache / name / "vms.csv").read_bytes() == (upstream / name / "vms.csv").read_bytes()
        entry = after[name]
        assert (entry["source"], entry["url"], entry["stale"]) == ("cache", catalog_server.url, False)
        assert entry["rows"] == data_lines(upstream / name / "vms.csv") and 0 <= entry["age_s"] < 600
    assert after["aws"]["source"] == "absent" and after["aws"]["rows"] is None

    # Within the TTL a plan would not download again; refresh does, and says what changed.
    (upstream / "lambda" / "vms.csv").write_bytes((upstream / "lambda" / "vms.csv").read_bytes().replace(b",1.29,", b",99.5,"))
    catalog_server.reset()
    first = cli(isolated_home, "refresh", "lambda", server=catalog_server)
    assert first.returncode == 0 and re.search(r"^lambda\s+updated\s+408\s", first.stdout, re.M), first.stdout
    assert catalog_server.clouds_requested() == ["lambda"]
    assert b",99.5," in (cache / "lambda" / "vms.csv").read_bytes()
    again = cli(isolated_home, "refresh", "lambda", server=catalog_server)
    assert again.returncode == 0 and re.search(r"^lambda\s+unchanged\s", again.stdout, re.M)

    # A stale cache is shown as such.
    stale = run_cli(isolated_home, "catalog", "status", "-o", "json", SKYHOP_CATALOG_DIR="", SKYHOP_CATALOG_URL=catalog_server.url, SKYHOP_CATALOG_TTL_HOURS="0")
    assert by_cloud(as_json(stale))["lambda"]["stale"] is True


def test_a_file_the_user_edited_is_kept_by_refresh(isolated_home, catalog_server):
    assert cli(isolated_home, "refresh", "lambda", server=catalog_server).returncode == 0
    cached = isolated_home / ".skyhop" / "catalogs" / "v8" / "lambda" / "vms.csv"
    mine = cached.read_bytes().replace(b",1.29,", b",0.01,")
    cached.write_bytes(mine)
    catalog_server.reset()
    result = as_json(cli(isolated_home, "refresh", "lambda", "-o", "json", server=catalog_server))
    assert [(r["result"], r["rows"]) for r in result] == [("kept", 408)] and "delete it" in result[0]["detail"]
    assert catalog_server.requests == [] and cached.read_bytes() == mine
    assert by_cloud(as_json(cli(isolated_home, "status", "-o", "json", server=catalog_server)))["lambda"]["source"] == "edited"


def test_refresh_of_an_unknown_cloud_is_one_clear_error(isolated_home, catalog_server):
    result = cli(isolated_home, "refresh", "lambd", server=catalog_server)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip() == "Error: CLOUD: the hosted price catalog has no cloud named 'lambd'; nothing was refreshed. Did you mean 'lambda'?"
    assert catalog_server.requests == []


def test_refresh_with_a_catalog_dir_says_there_is_nothing_to_download(isolated_home):
    result = cli(isolated_home, "refresh")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"SKYHOP_CATALOG_DIR={SHARED_CATALOG} is set" in result.stderr and "nothing was refreshed" in result.stderr
    assert not (isolated_home / ".skyhop" / "catalogs").exists()


def test_a_failed_download_keeps_the_cached_copy_and_says_so(isolated_home, catalog_server):
    assert cli(isolated_home, "refresh", "lambda", "vast", server=catalog_server).returncode == 0
    cache = isolated_home / ".skyhop" / "catalogs" / "v8"
    kept = {name: (cache / name / "vms.csv").read_bytes() for name in ("lambda", "vast")}

    catalog_server.fail["vast"] = 500  # one cloud answers an error, the other downloads
    partial = cli(isolated_home, "refresh", "lambda", "vast", server=catalog_server)
    assert partial.returncode == 1
    assert re.search(r"^lambda\s+unchanged\s", partial.stdout, re.M) and re.search(r"^vast\s+failed\s+67\s+HTTP 500; the copy downloaded \d+s ago is kept", partial.stdout, re.M), partial.stdout
    errors = [line for line in partial.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and f"Could not download from {catalog_server.url} (vast: HTTP 500); what was cached is kept" in errors[0]

    meta = json.loads((cache / META_FILE).read_bytes())
    catalog_server.stop()  # now nothing answers: offline
    offline = cli(isolated_home, "refresh", "lambda", "vast", "-o", "json", server=catalog_server)
    assert offline.returncode == 1 and "Traceback" not in offline.stderr
    results = json.loads(offline.stdout)
    assert [(r["cloud"], r["result"]) for r in results] == [("lambda", "failed"), ("vast", "failed")]
    assert all(r["error"].startswith("unreachable") and "is kept" in r["detail"] for r in results)
    assert "lambda, vast: unreachable" in offline.stderr
    assert {name: (cache / name / "vms.csv").read_bytes() for name in kept} == kept
    assert json.loads((cache / META_FILE).read_bytes()) == meta  # the record of what was downloaded too
    status = by_cloud(as_json(cli(isolated_home, "status", "-o", "json", server=catalog_server)))
    assert status["lambda"]["source"] == "cache" and status["lambda"]["rows"] == 408
