"""`skyhop check`: which providers are enabled, and why not."""

from __future__ import annotations

import click

from skyhop.cli.output import OUTPUT_OPTION, emit_json, table


@click.command(
    epilog="""\b
Examples:
  skyhop check
  skyhop check --output json
"""
)
@OUTPUT_OPTION
def check(output: str) -> None:
    """Show which clouds and infra are enabled, and why not.

    A cloud is enabled when its credentials are found on this machine (the
    files or environment variables its own tools use); only enabled clouds
    are searched by `skyhop optimize` unless --all-clouds is given. Every
    host of every SSH node pool is reached over SSH and reported.
    """
    from skyhop import sdk

    results = sdk.check(reach_machines=True)
    if output == "json":
        emit_json([r.to_json() for r in results])
        return
    table(("PROVIDER", "ENABLED", "DETAIL"), [(r.name, "yes" if r.enabled else "no", r.reason) for r in results])
    for r in results:
        if r.machines:
            table(
                ("POOL", "HOST", "REACHABLE", "DETAIL"),
                [(h.pool, h.host, "yes" if h.reachable else "no", f"{h.seconds * 1000:.0f} ms" if h.reachable else h.detail) for h in r.machines],
                title=f"{r.name.upper()} node pools",
            )
    enabled = [r.name for r in results if r.enabled]
    click.echo(f"Enabled: {', '.join(enabled) if enabled else 'none'}")
