"""`skyhop show-gpus`: accelerators on the market, counts and prices."""

from __future__ import annotations

import click

from skyhop.cli.output import OUTPUT_OPTION, emit_json, money, number, table


@click.command(
    "show-gpus",
    epilog="""\b
Examples:
  skyhop show-gpus                    # every accelerator, per cloud
  skyhop show-gpus H100               # every H100 shape, cheapest region each
  skyhop show-gpus H100:8 --all-regions
  skyhop show-gpus A100-80GB --infra lambda --output json
""",
)
@click.argument("name", required=False)
@click.option("--infra", help="Only this cloud (and region): lambda, lambda/us-east-1.")
@click.option("--all-regions", is_flag=True, help="One row per region instead of the cheapest region.")
@OUTPUT_OPTION
def show_gpus(name: str | None, infra: str | None, all_regions: bool, output: str) -> None:
    """List accelerators on the market with counts and prices.

    Without NAME: each accelerator per cloud, the counts per node on offer and
    the cheapest price per GPU-hour. With NAME (or NAME:COUNT): every instance
    shape carrying it, with on-demand and spot prices per instance-hour.
    """
    from skyhop import sdk

    rows = sdk.show_gpus(name, infra=infra, all_regions=all_regions)
    if output == "json":
        emit_json([row.to_json() for row in rows])
        return
    if name is None:
        table(
            ("ACCELERATOR", "CLOUD", "COUNTS PER NODE", "CHEAPEST $/GPU/H", "CHEAPEST SPOT $/GPU/H"),
            [
                (r.accelerator, r.cloud, ", ".join(number(c) for c in r.counts), money(r.cheapest_per_gpu, 3), money(r.cheapest_spot_per_gpu, 3))
                for r in rows
            ],
        )
        return
    table(
        ("ACCELERATOR", "QTY", "CLOUD", "INSTANCE", "GPU MEM(GB)", "vCPUs", "MEM(GB)", "$/H", "SPOT $/H", "REGION"),
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
            )
            for r in rows
        ],
    )
