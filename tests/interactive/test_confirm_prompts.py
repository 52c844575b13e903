"""Every command that asks for confirmation, answered at a real terminal: yes, no, and Ctrl-C.

No answer may end in a traceback; "no" and Ctrl-C change nothing.
"""

from __future__ import annotations

import pytest
from e2e_support import Sky
from pty_terminal import CTRL_C, Terminal


def _at_prompt(sky: Sky, prompt: str, *args: str) -> Terminal:
    term = Terminal(sky.env, sky.cwd, *args)
    term.expect(prompt)
    return term


def test_launch_yes_runs_and_names_the_new_cluster(sky):
    term = _at_prompt(sky, "Launch?", "launch", "-c", "ia", "echo hello-tty")
    assert "Cluster 'ia': 1x local" in term.screen
    term.type("y\n")
    assert term.finish() == 0
    assert "hello-tty" in term.screen and "ia" in sky.clusters()


@pytest.mark.parametrize("answer", ["n\n", CTRL_C])
def test_launch_no_or_ctrl_c_creates_nothing(sky, answer):
    term = _at_prompt(sky, "Launch?", "launch", "-c", "ib", "echo never")
    term.type(answer)
    assert term.finish() != 0
    assert "never" not in term.screen.split("Launch?")[-1]
    assert "ib" not in sky.clusters()


@pytest.mark.parametrize("verb", ["stop", "down"])
def test_stop_and_down_ask_and_obey(sky, verb):
    sky("launch", "-y", "-c", "keep", "echo up", check=True)
    for answer in ("n\n", CTRL_C):
        term = _at_prompt(sky, f"{verb.capitalize()} keep?", verb, "keep")
        term.type(answer)
        assert term.finish() != 0
        assert sky.clusters()["keep"]["status"] == "UP"
    term = _at_prompt(sky, f"{verb.capitalize()} keep?", verb, "keep")
    term.type("y\n")
    assert term.finish() == 0
    assert sky.clusters().get("keep", {}).get("status") == ("STOPPED" if verb == "stop" else None)


def test_ssh_rm_whole_pool_asks_and_obeys(sky):
    sky("ssh", "add", "lab", "10.9.9.9", check=True)
    for answer in ("n\n", CTRL_C, "\n"):  # the default is no
        term = _at_prompt(sky, "Remove the whole pool 'lab'", "ssh", "rm", "lab")
        term.type(answer)
        assert term.finish() != 0
        assert [row["pool"] for row in sky.json("ssh", "ls")] == ["lab"]
    term = _at_prompt(sky, "Remove the whole pool 'lab'", "ssh", "rm", "lab")
    term.type("y\n")
    assert term.finish() == 0
    assert sky.json("ssh", "ls") == []
