"""The agent's quick argv parser against argparse on every short command line built from each verb's own options
and awkward values (test_agent_startup.py checks the broker's spellings and a list of odd ones): whatever
`quick_parse` accepts, argparse parses to the same values; everything else it leaves to argparse."""

from __future__ import annotations

import contextlib
import io
import itertools

import pytest

from skyhop_agent import cli
from skyhop_agent.errors import AgentError

#: Values that convert or not, look like options or not: `-`, `--`, negative and non-ASCII numbers, empty strings.
VALUES = ["1", "2.5", "-", "-1", "--", "", "\u0663", "/b", "--x", "-h"]


def _argparse(parser, argv: list[str]) -> object:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            return {name: repr(value) for name, value in vars(parser.parse_args(argv)).items()}
        except (AgentError, SystemExit):
            return None


@pytest.mark.parametrize("verb", sorted(cli.VERBS))
def test_what_the_quick_parser_accepts_argparse_parses_the_same(verb: str) -> None:
    parser = cli.parser()
    options = [arg.name for arg in cli.VERBS[verb][2] if not arg.positional]
    pool = options + VALUES
    accepted = 0
    for base in ([], ["--base", "/n"], ["--base", "-"], ["--base", "/a", "--base", "/n"]):
        for size in range(4):
            for rest in itertools.product(pool, repeat=size):
                argv = [*base, verb, *rest]
                quick = cli.quick_parse(argv)
                if quick is not None:
                    accepted += 1
                    assert {name: repr(value) for name, value in vars(quick).items()} == _argparse(parser, argv), argv
    assert accepted  # every verb has spellings the quick parser takes
