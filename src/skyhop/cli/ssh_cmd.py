"""`skyhop ssh add|ls|rm`: SSH node pools, kept by the API server in its state store."""

from __future__ import annotations

from typing import Any

import click

from skyhop.cli.output import OUTPUT_OPTION, emit_json, money, table
from skyhop.errors import SkyhopError


@click.group(epilog="""\b
Examples:
  skyhop ssh add gpus 10.0.0.5 10.0.0.6 --user ubuntu --identity-file ~/.ssh/id_ed25519 --accelerators H100:8 --price 12
  skyhop ssh ls --check
  skyhop ssh rm gpus 10.0.0.6
  skyhop launch --infra ssh/gpus --gpus H100:8 train.yaml
""")
def ssh() -> None:
    """Manage SSH node pools: machines you already have, by name.

    Pools added here live in the API server's state store (pools written by
    hand under `ssh_node_pools` in the server's config.yaml work too, and are
    edited there); a cluster takes whole hosts of one pool (`--infra ssh/POOL`,
    or `--infra ssh` for the cheapest pool with enough free hosts). Key files
    are paths on the API server's machine.
    """


def _parse_accelerators(value: str | None) -> dict[str, float] | None:
    if value is None:
        return None
    from skyhop.spec.errors import SpecError
    from skyhop.spec.quantities import Accelerator

    try:
        accelerator = Accelerator.parse(value, "--accelerators")  # the task syntax, and its canonical names
    except SpecError:
        accelerator = None
    if accelerator is None or not float(accelerator.count).is_integer():
        raise SkyhopError(f"--accelerators: expected NAME:COUNT with a whole count, like H100:8; got {value!r}.")
    return {accelerator.name: int(accelerator.count)}


@ssh.command(epilog="""\b
Examples:
  skyhop ssh add lab 10.0.0.5 10.0.0.6 --user ubuntu --identity-file ~/.ssh/lab_key
  skyhop ssh add lab 10.0.0.7                     # one more host, same settings
  skyhop ssh add rented gpu1.example.com --port 2222 --price 9.5 --accelerators A100:8
""")
@click.argument("pool")
@click.argument("hosts", nargs=-1, required=True)
@click.option("--user", help="Login user for every host of the pool.")
@click.option("--identity-file", help="Private key for the pool (never a password: skyhop runs ssh in batch mode).")
@click.option("--port", type=click.IntRange(1, 65535), help="SSH port (default 22).")
@click.option("--jump", help="Jump host, e.g. user@bastion:22.")
@click.option("--price", type=click.FloatRange(min=0), help="USD per host per hour, for the optimizer (default 0).")
@click.option("--cpus", type=click.FloatRange(min=0), help="CPUs per host.")
@click.option("--memory", "memory_gib", type=click.FloatRange(min=0), help="Memory per host, GiB.")
@click.option("--accelerators", help="Accelerators per host, NAME:COUNT (e.g. H100:8).")
@click.option("--host-key-policy", type=click.Choice(["accept-new", "yes", "no"]), help="How unknown host keys are handled (default accept-new).")
def add(pool: str, hosts: tuple[str, ...], accelerators: str | None, **settings: Any) -> None:
    """Add hosts to a pool, creating the pool if needed.

    Options given here apply to the whole pool; per-host ports, users and
    base directories can be set in a pool written in config.yaml.
    """
    from skyhop.client import pools

    settings["accelerators"] = _parse_accelerators(accelerators)
    added = pools.add_hosts(pool, list(hosts), settings)
    skipped = [h for h in hosts if h not in added]
    click.echo(f"Pool '{pool}': added {', '.join(added) or 'no new host'}" + (f" ({', '.join(skipped)} already there)" if skipped else "") + ".")
    click.echo(f"Check it: skyhop ssh ls --check; use it: skyhop launch --infra ssh/{pool} ...")


@ssh.command("ls", epilog="""\b
Examples:
  skyhop ssh ls
  skyhop ssh ls --check            # also try to reach every host
  skyhop ssh ls --output json
""")
@click.option("--check", "probe", is_flag=True, help="Reach every host over SSH now and say how it went.")
@OUTPUT_OPTION
def ls(probe: bool, output: str) -> None:
    """List pools, their hosts, and which cluster holds each host."""
    from skyhop.client import pools

    rows = pools.list_pools(check=probe)
    if output == "json":
        emit_json(rows)
        return
    if not rows:
        click.echo("No SSH node pools. Add one: skyhop ssh add POOL HOST [HOST...] --user USER --identity-file KEY")
        return
    headers = ["POOL", "HOST", "$/H", "ACCELERATORS", "USED BY"] + (["REACHABLE"] if probe else [])
    table(headers, [
        [r["pool"], r["host"], money(r["price"]), ", ".join(f"{k}:{v:g}" for k, v in r["accelerators"].items()) or "-", r["cluster"] or "-"]
        + ([("yes" if r["reachable"] else f"no: {r['detail']}")] if probe else [])
        for r in rows
    ])


@ssh.command(epilog="""\b
Examples:
  skyhop ssh rm lab 10.0.0.7       # one host
  skyhop ssh rm lab -y             # the whole pool
""")
@click.argument("pool")
@click.argument("hosts", nargs=-1)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def rm(pool: str, hosts: tuple[str, ...], yes: bool) -> None:
    """Remove hosts from a pool, or the whole pool; hosts a cluster holds are refused."""
    from skyhop.client import pools

    if not hosts and not yes:
        count = sum(1 for row in pools.list_pools() if row["pool"] == pool)
        if count and not click.confirm(f"Remove the whole pool '{pool}' ({count} hosts)?", default=False, err=True):
            raise SystemExit(1)
    removed = pools.remove_hosts(pool, list(hosts))
    click.echo(f"Pool '{pool}': removed {', '.join(removed)}.")
