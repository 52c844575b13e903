"""`skyhop --help`, subcommand help and mistyped commands."""

from __future__ import annotations

import click
import pytest
from helpers import run_cli

from skyhop import __version__
from skyhop.cli.main import COMMANDS, cli


def test_top_level_help_lists_commands_and_examples(isolated_home):
    result = run_cli(isolated_home, "--help")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("Usage: skyhop [OPTIONS] COMMAND [ARGS]...")
    commands = out.split("Commands:")[1].split("Examples:")[0]
    listed = [line.split()[0] for line in commands.splitlines() if line.startswith("  ") and not line.startswith("   ") and line.strip()]
    assert listed == sorted(COMMANDS)
    assert {"launch", "exec", "status", "queue", "logs", "cancel", "stop", "start", "down", "autostop", "cost-report", "api"} <= set(COMMANDS)
    for name in COMMANDS:
        assert f"  {name}  " in commands
    examples = out.split("Examples:")[1]
    assert "skyhop launch" in examples and "skyhop optimize" in examples and "skyhop show-gpus" in examples and "skyhop check" in examples
    assert "SKYHOP_CATALOG_DIR" in out


def test_short_help_flag(skyhop):
    assert skyhop("-h").out == skyhop("--help").out != ""


def test_version(skyhop):
    result = skyhop("--version")
    assert result.code == 0 and result.out.strip() == f"skyhop, version {__version__}"


LISTINGS = ("check", "optimize", "show-gpus", "status", "queue", "cost-report")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_subcommand_has_help_with_examples(skyhop, name):
    result = skyhop(name, "--help")
    assert result.code == 0, result.err
    assert result.out.startswith(f"Usage: skyhop {name} ")
    examples = result.out.split("Examples:")[1]
    assert f"skyhop {name}" in examples
    if name in LISTINGS:
        assert "--output" in result.out


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_lazy_summary_matches_the_command(name):
    """`skyhop --help` shows COMMANDS' summaries without importing the commands; they must not drift."""
    command = cli.get_command(click.Context(cli), name)
    assert command is not None and command.name == name
    assert (command.help or "").splitlines()[0] == COMMANDS[name][2]


@pytest.mark.parametrize(("typed", "meant"), [("chek", "check"), ("show-gpu", "show-gpus"), ("optimise", "optimize")])
def test_unknown_command_suggests_the_nearest(skyhop, typed, meant):
    result = skyhop(typed)
    assert result.code == 2
    assert f"No such command '{typed}'. Did you mean '{meant}'?" in result.err
    assert "Traceback" not in result.err


def test_unknown_command_with_nothing_close(isolated_home):
    result = run_cli(isolated_home, "xyzzy")
    assert result.returncode == 2
    assert "No such command 'xyzzy'." in result.stderr and "Did you mean" not in result.stderr


def test_unknown_option_is_a_usage_error(skyhop):
    result = skyhop("show-gpus", "--all-regons")
    assert result.code == 2 and "No such option" in result.err and "'--all-regions'" in result.err and "Did you mean" in result.err


def _leaves(group: click.Group, ctx: click.Context, prefix: str):
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            yield from _leaves(command, click.Context(command, parent=ctx, info_name=name), f"{prefix} {name}")
        elif command is not None:
            yield f"{prefix} {name}", command


TEAM_GROUPS = ("users", "tokens", "workspaces", "budgets")


@pytest.mark.parametrize("group", TEAM_GROUPS)
def test_every_team_subcommand_has_its_own_examples(group):
    """A user reaches `skyhop budgets set --help` directly: the examples are there, not only on `skyhop budgets --help`."""
    root = click.Context(cli, info_name="skyhop")
    command = cli.get_command(root, group)
    assert isinstance(command, click.Group)
    for path, leaf in _leaves(command, click.Context(command, parent=root, info_name=group), group):
        assert "Examples:" in (leaf.epilog or "") and f"skyhop {path}" in leaf.epilog, path
