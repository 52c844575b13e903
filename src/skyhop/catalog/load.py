"""Load catalog files into a `Catalog`, through a parsed cache on disk.

Parsing CSV is most of the cost of a cold load; each file's parsed rows are
kept with `marshal` (the fastest serializer for plain tuples) keyed by the
file's path, size and mtime, so an unchanged file is never parsed twice.
"""

from __future__ import annotations

import gc
import hashlib
import marshal
import os
import sys
import threading
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from skyhop import paths
from skyhop.catalog.index import Catalog
from skyhop.catalog.offer import Offer
from skyhop.catalog.parse import Row, parse_rows
from skyhop.catalog.source import CatalogFiles, locate

_CACHE_FORMAT = 3  # bumped whenever parsed rows change meaning


def _cache_path(csv_path: Path) -> Path:
    stat = csv_path.stat()
    ident = f"{_CACHE_FORMAT}|{sys.version_info[:2]}|{csv_path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    digest = hashlib.sha1(ident.encode()).hexdigest()[:20]
    return paths.parsed_cache_dir() / f"{csv_path.parent.name}-{digest}.marshal"


def read_rows(csv_path: Path, cloud: str, *, use_cache: bool = True) -> list[Row]:
    """Rows of one file, from the parsed cache when it is current."""
    if not use_cache:
        return parse_rows(csv_path, cloud)
    cache = _cache_path(csv_path)
    try:
        return marshal.loads(cache.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        pass
    rows = parse_rows(csv_path, cloud)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(marshal.dumps(rows))
        os.replace(tmp, cache)
    except OSError:
        pass  # a read-only home only costs speed
    return rows


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Creating 100k+ tuples sets off the cyclic GC again and again, each time
    walking everything built so far, while nothing here can form a cycle."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_files(files: CatalogFiles, *, use_cache: bool = True) -> Catalog:
    offers: list[Offer] = []
    make = Offer._make
    with _gc_paused():
        for cloud, csv_path in sorted(files.files.items()):
            offers.extend(map(make, read_rows(csv_path, cloud, use_cache=use_cache)))
        return Catalog(offers)


def load_catalog(clouds: Iterable[str] | None = None, *, refresh: bool = False, use_cache: bool = True) -> Catalog:
    """The catalog for `clouds` (None = all), located per `skyhop.catalog.source`, built anew."""
    return load_files(_located(clouds, refresh), use_cache=use_cache)


#: Catalogs built in this process, by the identity of their files (a few: every cloud, the enabled ones).
_SHARED: OrderedDict[tuple, Catalog] = OrderedDict()
_SHARED_MAX = 4
_SHARED_LOCK = threading.Lock()


def shared_catalog(clouds: Iterable[str] | None = None, *, refresh: bool = False) -> Catalog:
    """`load_catalog`, kept in memory while its files stay the same (path, inode, size, mtime).

    The API server plans every optimize and launch, and building the index of
    a large catalog costs far more than looking at its files. A `Catalog` is
    immutable, so threads share it.
    """
    files = _located(clouds, refresh)
    # The inode too: a file replaced within one mtime tick by one of the same size is still new.
    key = tuple((cloud, str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns) for cloud, path in sorted(files.files.items()) for stat in [path.stat()])
    with _SHARED_LOCK:
        catalog = _SHARED.get(key)
        if catalog is not None:
            _SHARED.move_to_end(key)
            return catalog
    catalog = load_files(files)
    with _SHARED_LOCK:
        _SHARED[key] = catalog
        while len(_SHARED) > _SHARED_MAX:
            _SHARED.popitem(last=False)
    return catalog


def _located(clouds: Iterable[str] | None, refresh: bool) -> CatalogFiles:
    files = locate(clouds, refresh=refresh)
    for note in files.notes:
        print(f"Warning: {note}; using the cached copy.", file=sys.stderr)
    return files
