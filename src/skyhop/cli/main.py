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
    "check": ("skyhop.cli.check_cmd", "check", "Show which clouds and infra are enabled, and why not."),
    "optimize": ("skyhop.cli.optimize_cmd", "optimize", "Show the cheapest place to run a task, and the alternatives."),
    "show-gpus": ("skyhop.cli.gpus_cmd", "show_gpus", "List accelerators on the market with counts and prices."),
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


if __name__ == "__main__":  # pragma: no cover
    main()
