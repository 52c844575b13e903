"""`skyhop catalog status|refresh`: where each cloud's prices come from, and downloading them again.

Both run in the CLI process, like `show-gpus`: the catalog is files on this
machine (`catalog/source.py`), and the API server notices a refreshed file by
itself (its in-memory catalog is keyed by the files' identity, `catalog/load.py`).
"""

from __future__ import annotations

import csv
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

from skyhop import paths
from skyhop.catalog.source import ABSENT, DOWNLOADED, HOSTED_CLOUDS, catalog_url, download, edited, list_local, locate, read_meta, summarize, ttl_seconds
from skyhop.errors import CatalogError

# Where a cloud's prices come from (`CloudCatalog.source`).
DIR = "dir"  # SKYHOP_CATALOG_DIR: the user's tree, never downloaded
CACHE = "cache"  # downloaded into SKYHOP_HOME/catalogs/v8
EDITED = "edited"  # a cached file that is not what was downloaded: the user's, never replaced
UPSTREAM_ABSENT = "absent"  # the hosted catalog has no vms.csv for the cloud
NOT_DOWNLOADED = "not downloaded"  # fetched on first use

# What `refresh` did per cloud (`Refreshed.result`).
UPDATED = "updated"
UNCHANGED = "unchanged"
KEPT = "kept"
FAILED = "failed"


@dataclass(frozen=True)
class CloudCatalog:
    """One cloud's catalog file: where it comes from, how old it is, how many rows it has."""

    cloud: str
    source: str
    path: str | None
    url: str | None  # where a cached copy was downloaded from
    rows: int | None  # data rows of the CSV (the header not counted)
    age_s: float | None  # since it was downloaded (cache) or last written (dir, edited)
    stale: bool  # older than the TTL: the next plan downloads it again

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CatalogStatus:
    """Every cloud's catalog, and the settings that decide where they come from."""

    catalog_dir: str | None  # SKYHOP_CATALOG_DIR, when set
    cache_dir: str
    url: str
    ttl_hours: float
    clouds: tuple[CloudCatalog, ...]

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "clouds"}
        return {**out, "clouds": [c.to_json() for c in self.clouds]}


@dataclass(frozen=True)
class Refreshed:
    """What `refresh` did for one cloud, and why when it did not download."""

    cloud: str
    result: str  # updated | unchanged | absent | kept | failed
    rows: int | None
    detail: str
    error: str | None = None  # why the download failed (`failed` only)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def count_rows(path: Path) -> int:
    """Data rows of a catalog CSV, as a CSV reader sees them (quoted fields may hold newlines)."""
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        return max(sum(1 for row in csv.reader(handle) if row) - 1, 0)


def status() -> CatalogStatus:
    """Where each cloud's prices come from now; reads files only, downloads nothing."""
    override = os.environ.get("SKYHOP_CATALOG_DIR")
    cache = paths.catalog_cache_dir()
    now = time.time()
    if override:
        files = locate().files  # the same checks (and errors) as planning
        clouds = tuple(
            CloudCatalog(cloud, DIR, str(path), None, count_rows(path), now - path.stat().st_mtime, False) for cloud, path in sorted(files.items())
        )
    else:
        meta = read_meta(cache)
        names = sorted(set(HOSTED_CLOUDS) | set(list_local(cache)))
        clouds = tuple(_cached(cloud, cache / cloud / "vms.csv", meta.get(cloud), now) for cloud in names)
    return CatalogStatus(override or None, str(cache), catalog_url(), ttl_seconds() / 3600, clouds)


def _cached(cloud: str, path: Path, record: dict | None, now: float) -> CloudCatalog:
    if not path.is_file():
        source = UPSTREAM_ABSENT if record and record.get("absent") else NOT_DOWNLOADED
        return CloudCatalog(cloud, source, None, None, None, None, False)
    if edited(path, record):
        return CloudCatalog(cloud, EDITED, str(path), None, count_rows(path), now - path.stat().st_mtime, False)
    downloaded = record or {}  # not edited: it is what was downloaded, and says when from where
    age = now - float(downloaded.get("fetched_at", 0))
    return CloudCatalog(cloud, CACHE, str(path), downloaded.get("url"), count_rows(path), age, age > ttl_seconds())


def refresh(clouds: Sequence[str] = ()) -> list[Refreshed]:
    """Download `clouds` (all hosted ones when empty) now, whatever their age.

    A cached file the user edited is kept (as on every plan); a failed download
    keeps the cached copy. Raises CatalogError when nothing can be refreshed
    (SKYHOP_CATALOG_DIR set, an unknown cloud); failed downloads are results,
    so the caller shows every cloud's outcome before failing.
    """
    override = os.environ.get("SKYHOP_CATALOG_DIR")
    if override:
        raise CatalogError(
            f"SKYHOP_CATALOG_DIR={override} is set, so skyhop reads the price catalogs from that directory and never "
            "downloads them; nothing was refreshed. Update that tree yourself, or unset SKYHOP_CATALOG_DIR to use "
            "the downloaded cache and run `skyhop catalog refresh` again."
        )
    unknown = [c for c in clouds if c not in HOSTED_CLOUDS]
    if unknown:
        from skyhop.spec.errors import did_you_mean

        guess = did_you_mean(unknown[0], HOSTED_CLOUDS)
        hint = f" Did you mean '{guess}'?" if guess else f" It has: {', '.join(HOSTED_CLOUDS)}."
        raise CatalogError(f"CLOUD: the hosted price catalog has no cloud named '{unknown[0]}'; nothing was refreshed.{hint}")
    wanted = list(dict.fromkeys(clouds)) or list(HOSTED_CLOUDS)
    root = paths.catalog_cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    meta = read_meta(root)
    before = {c: dict(meta.get(c) or {}) for c in wanted}
    mine = [c for c in wanted if (root / c / "vms.csv").is_file() and edited(root / c / "vms.csv", meta.get(c))]
    outcomes = download(root, meta, [c for c in wanted if c not in mine])
    now = time.time()
    out = []
    for cloud in wanted:
        path = root / cloud / "vms.csv"
        rows = count_rows(path) if path.is_file() else None
        outcome = outcomes.get(cloud)
        if cloud in mine:
            out.append(Refreshed(cloud, KEPT, rows, f"{path} was edited here and is never replaced; delete it to download the catalog again"))
        elif outcome == DOWNLOADED:
            changed = meta[cloud]["sha256"] != before[cloud].get("sha256")
            out.append(Refreshed(cloud, UPDATED if changed else UNCHANGED, rows, f"from {catalog_url()}"))
        elif outcome == ABSENT:
            out.append(Refreshed(cloud, UPSTREAM_ABSENT, rows, f"{catalog_url()} has no vms.csv for {cloud}"))
        else:
            fetched = before[cloud].get("fetched_at")
            kept = f"the copy downloaded {age_text(now - float(fetched))} ago is kept" if path.is_file() and fetched else "nothing is cached for it yet"
            out.append(Refreshed(cloud, FAILED, rows, f"{outcome}; {kept}", error=outcome))
    return out


def failure_summary(results: Sequence[Refreshed]) -> str | None:
    """One paragraph on the downloads that failed, or None when none did."""
    failed = [(r.cloud, r.error or "") for r in results if r.result == FAILED]
    if not failed:
        return None
    return (
        f"Could not download from {catalog_url()} ({summarize(failed)}); what was cached is kept and still used. "
        "Check the network (or SKYHOP_CATALOG_URL), or set SKYHOP_CATALOG_DIR to a local copy of the catalogs to work offline."
    )


def age_text(seconds: float) -> str:
    """`45s`, `12m`, `3h 05m`, `2d 4h`: how long ago, for people."""
    seconds = max(int(seconds), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m" if minutes else f"{secs}s"
