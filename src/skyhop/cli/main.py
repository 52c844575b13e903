"""Entry point: a click group whose commands load on first use.

`skyhop --help` must stay fast, so the group knows each command's module and
one-line help without importing it (a test guards what `--help` imports).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from skyhop import __version__
from skyhop.errors import SkyhopError

# name -> (module, attribute, one-line help shown by `skyhop --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "api": ("skyhop.cli.api_cmd", "api", "Manage the API server every cluster command goes through."),
    "autostop": ("skyhop.cli.cluster_cmds", "autostop", "Stop (or tear down) a cluster once it has been idle for a while."),
    "budgets": ("skyhop.cli.budgets_cmd", "budgets", "Monthly budgets: warned at a fraction, launches refused at 100% (and clusters stopped, jobs paused, if asked)."),
    "cancel": ("skyhop.cli.job_cmds", "cancel", "Cancel jobs: their processes on every node are ended, with all their children."),
    "catalog": ("skyhop.cli.catalog_cmd", "catalog", "Show where the price catalogs come from, and download them again."),
    "chaos": ("skyhop.cli.chaos_cmd", "chaos", "Break your own clusters on purpose (preempt a node) to test recovery and checkpointing."),
    "check": ("skyhop.cli.check_cmd", "check", "Show which clouds and infra are enabled, and why not."),
    "cost-report": ("skyhop.cli.cluster_cmds", "cost_report", "What each cluster cost: time up (stopped time is free) x hourly price, including removed clusters."),
    "dashboard": ("skyhop.cli.dashboard_cmd", "dashboard", "Open the web dashboard: clusters, live logs, managed jobs, services, requests, costs."),
    "down": ("skyhop.cli.cluster_cmds", "down", "Tear clusters down: end their jobs, remove their machines and files."),
    "exec": ("skyhop.cli.launch_cmd", "exec_", "Run a command or task on an existing cluster (no setup; the workdir is synced)."),
    "jobs": ("skyhop.cli.managed_jobs_cmd", "jobs", "Managed jobs: relaunched after a preemption (and on errors, if asked) until they finish."),
    "launch": ("skyhop.cli.launch_cmd", "launch", "Launch a task: pick the cheapest infra, provision a cluster, set it up and run."),
    "logs": ("skyhop.cli.job_cmds", "logs", "Show (and follow) a job's output; the latest job by default."),
    "optimize": ("skyhop.cli.optimize_cmd", "optimize", "Show the cheapest place to run a task, and the alternatives."),
    "queue": ("skyhop.cli.job_cmds", "queue", "Show the job queue of clusters (all of them by default)."),
    "serve": ("skyhop.cli.serve_cmd", "serve", "Serve a task: replicas behind one load-balanced endpoint, replaced on failure, scaled with traffic."),
    "sim": ("skyhop.cli.sim_cmd", "sim", "Simulate spot policies on recorded availability traces: cost, deadlines met, availability."),
    "show-gpus": ("skyhop.cli.gpus_cmd", "show_gpus", "List accelerators on the market with counts and prices."),
    "ssh": ("skyhop.cli.ssh_cmd", "ssh", "Manage SSH node pools: machines you already have, by name."),
    "start": ("skyhop.cli.cluster_cmds", "start", "Start stopped clusters again; their job history is kept."),
    "status": ("skyhop.cli.cluster_cmds", "status", "Show clusters: status, resources, price, autostop."),
    "stop": ("skyhop.cli.cluster_cmds", "stop", "Stop clusters: end their jobs and stop the machines, keeping disks and job history."),
    "tokens": ("skyhop.cli.tokens_cmd", "tokens", "API tokens of a team server: make (shown once), list, revoke."),
    "users": ("skyhop.cli.users_cmd", "users", "Users of a team server (admin only): create, list, set a role, disable, enable."),
    "workspaces": ("skyhop.cli.workspaces_cmd", "workspaces", "Workspaces (groups of users) of a team server."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        import importlib

        module, attribute, _ = entry
        return getattr(importlib.import_module(module), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[Any, ...]:
        name = args[0] if args else ""
        if name and name not in COMMANDS and not name.startswith("-"):
            from skyhop.spec.errors import did_you_mean

            guess = did_you_mean(name, COMMANDS)
            hint = f" Did you mean '{guess}'?" if guess else ""
            raise click.UsageError(f"No such command '{name}'.{hint}", ctx)
        return super().resolve_command(ctx, args)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="""\b
Examples:
  skyhop launch -y examples/hello.yaml
  skyhop status
  skyhop exec CLUSTER 'echo hi'
  skyhop down -y CLUSTER
  skyhop optimize examples/hello.yaml --all-clouds
  skyhop optimize --gpus H100:8 --use-spot --all-clouds --output json
  skyhop show-gpus H100 --all-regions
  skyhop check

Set SKYHOP_CATALOG_DIR to a local catalog tree (SkyPilot v8 layout) to work offline.""",
)
@click.version_option(__version__, "--version", prog_name="skyhop")
def cli() -> None:
    """skyhop: run AI and batch jobs on the cheapest infra that can take them."""


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; user mistakes end as one paragraph on stderr, never a traceback."""
    try:
        cli.main(args=argv, prog_name="skyhop", standalone_mode=True)
    except SkyhopError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    finally:
        _budget_notices()


def _budget_notices() -> None:
    """The budget warnings the server sent with this command's answers (`launch`, `jobs launch`, `status`)."""
    http = sys.modules.get("skyhop.client.http")
    notices = getattr(http, "NOTICES", None)
    if notices:
        from skyhop.cli.budget_notice import show

        show(notices)
        notices.clear()


if __name__ == "__main__":  # pragma: no cover
    main()
