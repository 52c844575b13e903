"""Where catalog files come from: a local tree, or a cache of the hosted catalog.

Order: `SKYHOP_CATALOG_DIR` if set; else `SKYHOP_HOME/catalogs/v8`, filled
from the hosted catalog (`SKYHOP_CATALOG_URL`, default the public
skypilot-catalog repository) when a file is missing or older than the TTL.
A cached file whose content no longer matches what was downloaded was edited
by the user and is never overwritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from skyhop import paths
from skyhop.errors import CatalogError

DEFAULT_URL = "https://raw.githubusercontent.com/skypilot-org/skypilot-catalog/master/catalogs/v8"
DEFAULT_TTL_HOURS = 24.0
FETCH_TIMEOUT_S = 15.0
META_FILE = ".skyhop-meta.json"

# Clouds the hosted v8 catalog publishes a vms.csv for.
HOSTED_CLOUDS = (
    "aws", "azure", "cudo", "daytona", "do", "fluidstack", "gcp", "hyperbolic", "hyperstack",
    "ibm", "jarvislabs", "lambda", "lium", "mithril", "nebius", "oci", "paperspace",
    "primeintellect", "runpod", "scp", "seeweb", "shadeform", "spheron", "vast", "verda", "vsphere", "yotta",
)


@dataclass(frozen=True)
class CatalogFiles:
    """The files an offline or cached catalog consists of."""

    root: Path
    files: dict[str, Path]  # cloud -> vms.csv
    notes: tuple[str, ...] = ()


def catalog_url() -> str:
    return os.environ.get("SKYHOP_CATALOG_URL", DEFAULT_URL).rstrip("/")


def ttl_seconds() -> float:
    raw = os.environ.get("SKYHOP_CATALOG_TTL_HOURS")
    try:
        return float(raw) * 3600 if raw else DEFAULT_TTL_HOURS * 3600
    except ValueError:
        raise CatalogError(f"SKYHOP_CATALOG_TTL_HOURS must be a number of hours, got {raw!r}") from None


def list_local(root: Path, clouds: Iterable[str] | None = None) -> dict[str, Path]:
    wanted = set(clouds) if clouds is not None else None
    found = {}
    if root.is_dir():
        for entry in sorted(root.iterdir()):
            csv_path = entry / "vms.csv"
            if entry.is_dir() and csv_path.is_file() and (wanted is None or entry.name in wanted):
                found[entry.name] = csv_path
    return found


def locate(clouds: Iterable[str] | None = None, *, refresh: bool = False) -> CatalogFiles:
    """The catalog files for `clouds` (None = every cloud available)."""
    override = os.environ.get("SKYHOP_CATALOG_DIR")
    if override:
        root = Path(override).expanduser()
        if not root.is_dir():
            raise CatalogError(
                f"SKYHOP_CATALOG_DIR={override} is not a directory. Point it at a catalog tree in the "
                "SkyPilot v8 layout (<cloud>/vms.csv), or unset it to use the downloaded cache."
            )
        wanted = list(clouds) if clouds is not None else None
        files = list_local(root, wanted)
        if not files:
            what = f"no catalog for {', '.join(wanted)}" if wanted else "no <cloud>/vms.csv files"
            raise CatalogError(f"SKYHOP_CATALOG_DIR={override} holds {what}.")
        return CatalogFiles(root, files)
    return _cached(list(clouds) if clouds is not None else list(HOSTED_CLOUDS), refresh)


def _cached(clouds: list[str], refresh: bool) -> CatalogFiles:
    root = paths.catalog_cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    meta = read_meta(root)
    now = time.time()
    notes: list[str] = []
    stale = []
    for cloud in clouds:
        target = root / cloud / "vms.csv"
        record = meta.get(cloud)
        if record and record.get("absent") and not refresh and now - record.get("fetched_at", 0) < ttl_seconds():
            continue
        if not target.exists():
            stale.append(cloud)
        elif edited(target, record):
            continue  # the user's own or edited file: never replaced
        elif refresh or now - (record or {}).get("fetched_at", 0) > ttl_seconds():
            stale.append(cloud)
    if stale:
        print(f"Fetching price catalogs for {len(stale)} cloud(s) from {catalog_url()} ...", file=sys.stderr)
        outcomes = download(root, meta, stale)
        failures = [(cloud, outcome) for cloud, outcome in outcomes.items() if outcome not in (DOWNLOADED, ABSENT)]
        if failures:
            notes.append("could not download " + summarize(failures))
    files = list_local(root, clouds)
    if not files and clouds and not notes and all((meta.get(c) or {}).get("absent") for c in clouds):
        names = ", ".join(clouds) if len(clouds) <= 4 else f"any of {len(clouds)} clouds"
        raise CatalogError(f"The price catalog at {catalog_url()} has no vms.csv for {names}.")
    if not files:
        detail = f" ({notes[0]})" if notes else ""
        raise CatalogError(
            f"No price catalog available: SKYHOP_CATALOG_DIR is not set, the cache {root} is empty, and "
            f"downloading from {catalog_url()} failed{detail}. To work offline, point SKYHOP_CATALOG_DIR at a "
            "local copy of the catalogs/v8 tree, e.g. `export SKYHOP_CATALOG_DIR=../shared/catalogs/v8`."
        )
    return CatalogFiles(root, files, tuple(notes))


#: `download` outcomes; anything else is why the download failed (the cached copy stays).
DOWNLOADED = "downloaded"
ABSENT = "absent"


def download(root: Path, meta: dict, clouds: Iterable[str]) -> dict[str, str]:
    """Fetch each cloud's vms.csv into `root` (8 at once), recording it in `meta` (written back);
    a failed fetch leaves the cached file and its record as they were. Cloud -> outcome."""
    # Imported here (~15 ms at start-up otherwise), before the threads start.
    import urllib.request  # noqa: F401
    from concurrent.futures import ThreadPoolExecutor

    now = time.time()
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda c: (c, _fetch(c)), clouds))
    outcomes = {}
    for cloud, outcome in results:
        if isinstance(outcome, bytes):
            _write_atomic(root / cloud / "vms.csv", outcome)
            meta[cloud] = {"sha256": hashlib.sha256(outcome).hexdigest(), "fetched_at": now, "url": catalog_url()}
            outcomes[cloud] = DOWNLOADED
        else:
            if outcome == ABSENT:
                meta[cloud] = {"absent": True, "fetched_at": now}
            outcomes[cloud] = outcome
    _write_meta(root, meta)
    return outcomes


def summarize(failures: list[tuple[str, str]]) -> str:
    """`aws, gcp: unreachable (...)` grouped by reason, so 27 failures read as one line."""
    by_reason: dict[str, list[str]] = {}
    for cloud, reason in failures:
        by_reason.setdefault(reason, []).append(cloud)
    return "; ".join(
        f"{', '.join(clouds) if len(clouds) <= 4 else f'{len(clouds)} clouds'}: {reason}" for reason, clouds in by_reason.items()
    )


def _fetch(cloud: str) -> bytes | str:
    import urllib.error
    import urllib.request

    url = f"{catalog_url()}/{cloud}/vms.csv"
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_S) as response:
            return response.read()
    except urllib.error.HTTPError as error:
        return ABSENT if error.code == 404 else f"HTTP {error.code}"
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return f"unreachable ({reason})"


def edited(target: Path, record: dict | None) -> bool:
    """A cached file that is not what was downloaded (the user's own, or changed): never replaced."""
    return record is None or _sha256(target) != record.get("sha256")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_atomic(target: Path, data: bytes) -> None:
    import tempfile

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".vms-", suffix=".tmp")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, target)


def read_meta(root: Path) -> dict:
    """What was downloaded into the cache `root`: cloud -> {sha256, fetched_at, url} or {absent, fetched_at}."""
    try:
        return json.loads((root / META_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _write_meta(root: Path, meta: dict) -> None:
    _write_atomic(root / META_FILE, json.dumps(meta, indent=1, sort_keys=True).encode())
