"""`skyhop show-gpus`: accelerators on the market, counts and prices."""

from __future__ import annotations

import click

from skyhop.cli.output import OUTPUT_OPTION, emit_json, money, number, table

# What `show-gpus` lists without NAME or -a, as SkyPilot shows its common GPUs first.
COMMON_ACCELERATORS = frozenset(
    {"A10", "A10G", "A100", "A100-80GB", "B200", "B300", "GB200", "H100", "H200", "L4", "L40S", "MI300X", "T4", "V100"}
)


@click.command(
    "show-gpus",
    epilog="""\b
Examples:
  skyhop show-gpus                    # every accelerator, per cloud
  skyhop show-gpus H100               # every H100 shape, cheapest region each
  skyhop show-gpus H100:8 --all-regions
  skyhop show-gpus A100-80GB --infra lambda --output json
  skyhop show-gpus -a                 # every accelerator, also the ones usually hidden
  skyhop show-gpus H100 --cloud lambda --region us-east-1   # = --infra lambda/us-east-1
  skyhop show-gpus A10 --all-regions --available   # where clouds that report it have capacity now
  skyhop show-gpus --infra local      # the GPUs of this machine (--infra ssh: your SSH pools)
""",
)
@click.argument("name", required=False)
@click.option("--infra", help="Only this cloud (and region): lambda, lambda/us-east-1.")
@click.option("--cloud", help="Legacy spelling of --infra CLOUD.")
@click.option("--region", help="With --cloud: legacy spelling of --infra CLOUD/REGION.")
@click.option("--all-regions", is_flag=True, help="One row per region instead of the cheapest region.")
@click.option("-a", "--all", "all_", is_flag=True, help="Without NAME: list every accelerator, including the uncommon ones.")
@click.option("--available", is_flag=True, help="With NAME: ask the clouds that report live capacity (Lambda) whether each row can be launched now (through the API server, with its credentials).")
@OUTPUT_OPTION
def show_gpus(name: str | None, infra: str | None, cloud: str | None, region: str | None, all_regions: bool, all_: bool, available: bool, output: str) -> None:
    """List accelerators on the market with counts and prices.

    Without NAME: each common accelerator (every one with -a) per cloud, the
    counts per node on offer and the cheapest price per GPU-hour. With NAME (or NAME:COUNT): every instance
    shape carrying it, with on-demand and spot prices per instance-hour.
    `--available` adds whether each row can be launched now, for clouds whose
    API says so (yes/no; `-` where the cloud does not report it).
    """
    from skyhop import sdk
    from skyhop.cli.task_options import resource_overrides

    infra = resource_overrides({"infra": infra, "cloud": cloud, "region": region}).get("infra")
    rows = sdk.show_gpus(name, infra=infra, all_regions=all_regions, catalog=_own_offers(infra))
    hidden = 0
    if name is None and not all_:
        common = [r for r in rows if r.accelerator in COMMON_ACCELERATORS]
        hidden = len({r.accelerator for r in rows}) - len({r.accelerator for r in common})
        rows = common
    if available and name is None:
        raise click.UsageError("--available needs NAME (it is about instance types and regions).")
    live = _live_availability() if available else None
    if output == "json":
        emit_json([{**row.to_json(), **({"available": _available(live, row.offer)} if live is not None else {})} for row in rows])
        return
    if name is None and not rows:
        click.echo(f"No accelerators on offer{f' on {infra}' if infra else ''}" + (f" ({hidden} uncommon ones hidden; -a lists them)." if hidden else "."))
        return
    if name is None:
        table(
            ("ACCELERATOR", "CLOUD", "COUNTS PER NODE", "CHEAPEST $/GPU/H", "CHEAPEST SPOT $/GPU/H"),
            [
                (r.accelerator, r.cloud, ", ".join(number(c) for c in r.counts), money(r.cheapest_per_gpu, 3), money(r.cheapest_spot_per_gpu, 3))
                for r in rows
            ],
        )
        if hidden:
            click.echo(f"{hidden} less common accelerator(s) not shown; use -a/--all to list every one.")
        return
    extra = ("AVAILABLE",) if live is not None else ()
    table(
        ("ACCELERATOR", "QTY", "CLOUD", "INSTANCE", "GPU MEM(GB)", "vCPUs", "MEM(GB)", "$/H", "SPOT $/H", "REGION", *extra),
        [
            (
                r.offer.accelerator,
                number(r.offer.accelerator_count),
                r.offer.cloud,
                r.offer.instance_type,
                number(r.offer.gpu_memory_gib),
                number(r.offer.vcpus),
                number(r.offer.memory_gib),
                money(r.offer.price),
                money(r.spot_offer.spot_price) if r.spot_offer else "-",
                r.offer.region,
                *((_yes_no(_available(live, r.offer)),) if live is not None else ()),
            )
            for r in rows
        ],
    )
    for problem in (live or {}).get("errors", ()):
        click.echo(f"Availability unknown: {problem}")


def _own_offers(infra: str | None):  # -> Catalog | None
    """For `--infra` naming a provider with no price catalog (this machine, SSH pools): the offers it
    lists itself, from the API server (which holds the pools); None for catalog-priced clouds."""
    from skyhop.providers import registry
    from skyhop.providers.base import OfferSource
    from skyhop.spec.infra import Infra

    cloud = Infra.parse(infra, "--infra").cloud if infra else None
    if not cloud or cloud not in registry.names() or registry.capabilities(cloud).offers is OfferSource.CATALOG:
        return None
    from skyhop.catalog.index import Catalog
    from skyhop.catalog.offer import Offer
    from skyhop.client import api

    return Catalog(Offer(**offer) for offer in api.own_offers(cloud))


def _live_availability() -> dict:
    """The API server's answer as {cloud: {(type, region)}} plus the clouds' errors (a cloud with an error is unknown)."""
    from skyhop.client import api

    answer = api.availability()
    clouds = {c["cloud"]: {tuple(pair) for pair in c["available"]} for c in answer if not c["error"]}
    return {"clouds": clouds, "errors": [f"{c['cloud']}: {c['error']}" for c in answer if c["error"]]}


def _available(live: dict | None, offer) -> bool | None:
    pairs = (live or {}).get("clouds", {}).get(offer.cloud)
    return None if pairs is None else (offer.instance_type, offer.region) in pairs


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else "yes" if value else "no"
