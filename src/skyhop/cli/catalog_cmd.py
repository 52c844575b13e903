"""`skyhop catalog status|refresh`: the price catalogs on this machine (no API server needed)."""

from __future__ import annotations

import click

from skyhop.cli.output import OUTPUT_OPTION, emit_json, number, table


@click.group(
    epilog="""\b
Examples:
  skyhop catalog status                 # per cloud: source, age, rows
  skyhop catalog status --output json
  skyhop catalog refresh                # download every cloud's prices now
  skyhop catalog refresh lambda         # only this cloud
"""
)
def catalog() -> None:
    """Show where the price catalogs come from, and download them again.

    Prices come from SKYHOP_CATALOG_DIR when it is set (never downloaded),
    else from a cache in SKYHOP_HOME/catalogs/v8 filled from the hosted catalog
    (SKYHOP_CATALOG_URL) and downloaded again after SKYHOP_CATALOG_TTL_HOURS
    (24 by default). A cached file you edited is never replaced.
    """


@catalog.command(
    epilog="""\b
Examples:
  skyhop catalog status
  skyhop catalog status --output json
"""
)
@OUTPUT_OPTION
def status(output: str) -> None:
    """Per cloud: where its prices come from, how old they are, how many rows.

    SOURCE is `dir` (SKYHOP_CATALOG_DIR), `cache` (downloaded; `stale` once
    older than the TTL, so the next plan downloads it again), `edited` (a
    cached file you changed: kept as it is), `absent` (the hosted catalog has
    none) or `not downloaded` (fetched on first use).
    """
    from skyhop.catalog import status as catalog_status

    report = catalog_status.status()
    if output == "json":
        emit_json(report.to_json())
        return
    if report.catalog_dir:
        click.echo(f"Catalogs from SKYHOP_CATALOG_DIR={report.catalog_dir} (never downloaded).")
    else:
        click.echo(f"Catalogs cached in {report.cache_dir}, downloaded from {report.url}; downloaded again after {number(report.ttl_hours)} h.")
    table(
        ("CLOUD", "SOURCE", "ROWS", "AGE", "FROM"),
        [
            (
                c.cloud,
                f"{c.source} (stale)" if c.stale else c.source,
                number(c.rows),
                catalog_status.age_text(c.age_s) if c.age_s is not None else "-",
                c.url or c.path or "-",
            )
            for c in report.clouds
        ],
    )


@catalog.command(
    epilog="""\b
Examples:
  skyhop catalog refresh                # every cloud of the hosted catalog
  skyhop catalog refresh lambda gcp
  skyhop catalog refresh --output json
"""
)
@click.argument("clouds", nargs=-1, metavar="[CLOUD]...")
@OUTPUT_OPTION
def refresh(clouds: tuple[str, ...], output: str) -> None:
    """Download the hosted price catalog now, whatever the cached copy's age.

    Only the cache is refreshed: with SKYHOP_CATALOG_DIR set there is nothing
    to download. A failed download keeps the cached copy and ends with an
    error after every cloud's result is shown.
    """
    from skyhop.catalog import status as catalog_status
    from skyhop.errors import CatalogError

    results = catalog_status.refresh(clouds)
    if output == "json":
        emit_json([r.to_json() for r in results])
    else:
        table(("CLOUD", "RESULT", "ROWS", "DETAIL"), [(r.cloud, r.result, number(r.rows), r.detail) for r in results])
    failed = catalog_status.failure_summary(results)
    if failed:
        raise CatalogError(failed)
