"""`skyhop check`: which providers are enabled, and why not."""

from __future__ import annotations

import click

from skyhop.cli.output import OUTPUT_OPTION, emit_json, table


@click.command(
    epilog="""\b
Examples:
  skyhop check
  skyhop check lambda ssh      # only these
  skyhop check -v              # where each cloud's credentials are looked for
  skyhop check --output json
"""
)
@click.argument("clouds", nargs=-1)
@click.option("-v", "--verbose", is_flag=True, help="Show every detail: where missing credentials were looked for.")
@OUTPUT_OPTION
def check(clouds: tuple[str, ...], verbose: bool, output: str) -> None:
    """Show which clouds and infra are enabled, and why not.

    A cloud is enabled when its credentials are found on this machine (the
    files or environment variables its own tools use); only enabled clouds
    are searched by `skyhop optimize` unless --all-clouds is given. Every
    host of every SSH node pool is reached over SSH and reported.
    """
    from skyhop.client import api

    results = _only(api.check(), clouds)
    if output == "json":
        emit_json(results)
        return
    table(("PROVIDER", "ENABLED", "DETAIL"), [(r["name"], "yes" if r["enabled"] else "no", r["reason"] if verbose else _short(r["reason"])) for r in results])
    for r in results:
        if r.get("hosts"):
            table(
                ("POOL", "HOST", "REACHABLE", "DETAIL"),
                [(h["pool"], h["host"], "yes" if h["reachable"] else "no", f"{h['seconds'] * 1000:.0f} ms" if h["reachable"] else h["detail"]) for h in r["hosts"]],
                title=f"{r['name'].upper()} node pools",
            )
    if not verbose and any(_short(r["reason"]) != r["reason"] for r in results):
        click.echo("Run `skyhop check -v` to see where the missing credentials are looked for.")
    enabled = [r["name"] for r in results if r["enabled"]]
    click.echo(f"Enabled: {', '.join(enabled) if enabled else 'none'}")


def _only(results: list[dict], clouds: tuple[str, ...]) -> list[dict]:
    """The rows of the named providers (all without names); a typo gets "did you mean"."""
    if not clouds:
        return results
    from skyhop.errors import SkyhopError
    from skyhop.spec.errors import did_you_mean

    known = {r["name"]: r for r in results}
    wanted = [c.lower() for c in clouds]
    for name in wanted:
        if name not in known:
            guess = did_you_mean(name, known)
            raise SkyhopError(f"Unknown cloud or infra '{name}'." + (f" Did you mean '{guess}'?" if guess else f" Known: {', '.join(known)}."))
    return [known[name] for name in dict.fromkeys(wanted)]


def _short(reason: str) -> str:
    """The one-line detail: the list of places looked at is for -v."""
    head, sep, _ = reason.partition(" (looked for ")
    return head if sep else reason

