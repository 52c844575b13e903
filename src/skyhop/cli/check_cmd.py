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
    are searched by `skyhop optimize` unless --all-clouds is given.
    """
    from skyhop import sdk

    results = sdk.check()
    if output == "json":
        emit_json([r.to_json() for r in results])
        return
    table(("PROVIDER", "ENABLED", "DETAIL"), [(r.name, "yes" if r.enabled else "no", r.reason) for r in results])
    enabled = [r.name for r in results if r.enabled]
    click.echo(f"Enabled: {', '.join(enabled) if enabled else 'none'}")
