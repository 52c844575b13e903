"""`skyhop chaos`: failures on demand, to test what happens when infra goes away."""

from __future__ import annotations

import click


@click.group(epilog="""\b
Examples:
  skyhop chaos preempt train            # the head node vanishes
  skyhop chaos preempt train --node 1   # a worker vanishes
""")
def chaos() -> None:
    """Break your own clusters on purpose (preempt a node) to test recovery and checkpointing.

    Works on local and ssh clusters; use it to check that your job
    checkpoints and that recovery does what you expect.
    """


@chaos.command(epilog="""\b
Examples:
  skyhop chaos preempt train --node 1
  skyhop status train --refresh     # INIT, with the reason
""")
@click.argument("cluster")
@click.option("-n", "--node", type=click.IntRange(min=0), default=0, show_default=True, help="Which node (0 is the head).")
def preempt(cluster: str, node: int) -> None:
    """Make a node disappear the way a spot reclaim does.

    Its processes are killed and skyhop cannot reach it until the cluster is
    taken down; the job running there fails like it would on a real
    preemption, and `status --refresh` marks the cluster INIT with the reason.
    """
    from skyhop.client import api

    click.echo(api.chaos_preempt(cluster, node)["message"])
