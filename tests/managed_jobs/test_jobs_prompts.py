"""`jobs launch` and `jobs cancel` ask first (without -y), at a real terminal: no answer, "n" and Ctrl-C
change nothing and print no traceback; "y" does it. Cancel by id, by name, and of --num-jobs copies."""

from __future__ import annotations

import json

import pytest
from e2e_support import wait_for
from pty_terminal import CTRL_C, Terminal

pytestmark = pytest.mark.slow


@pytest.fixture
def sky(jobs_cli):
    return jobs_cli


def _queue(sky) -> dict[int, dict]:
    return {r["id"]: r for r in sky.json("jobs", "queue")}


def test_launch_and_cancel_ask_and_take_no_for_an_answer(sky):
    refused = Terminal(sky.env, sky.cwd, "jobs", "launch", "-n", "asked", "sleep 60")
    refused.expect("Launch?")
    refused.type("n\n")
    assert refused.finish() == 1
    interrupted = Terminal(sky.env, sky.cwd, "jobs", "launch", "-n", "asked", "sleep 60")
    interrupted.expect("Launch?")
    interrupted.type(CTRL_C)
    assert interrupted.finish() != 0
    assert _queue(sky) == {}

    accepted = Terminal(sky.env, sky.cwd, "jobs", "launch", "-d", "-n", "asked", "sleep 60")
    accepted.expect("Launch?")
    accepted.type("y\n")
    assert accepted.finish() == 0
    (job_id,) = _queue(sky)
    wait_for(lambda: _queue(sky)[job_id]["status"] == "RUNNING", 120, "the job running")

    kept = Terminal(sky.env, sky.cwd, "jobs", "cancel", str(job_id))
    kept.expect("Cancel managed job(s)")
    kept.type(CTRL_C)
    assert kept.finish() != 0
    cancel = Terminal(sky.env, sky.cwd, "jobs", "cancel", str(job_id))
    cancel.expect("Cancel managed job(s)")
    cancel.type("y\n")
    assert cancel.finish() == 0 and f"Cancelling managed job(s) {job_id}" in cancel.screen
    wait_for(lambda: _queue(sky)[job_id]["status"] == "CANCELLED", 60, "the job cancelled")
    assert [a["outcome"] for a in _queue(sky)[job_id]["attempts"]] == ["cancelled"]
    assert sky.clusters() == {}  # CANCELLED is written once the cluster is gone
    again = sky("jobs", "cancel", "-y", str(job_id), check=True)
    assert f"Already finished: {job_id}" in again.out


def test_num_jobs_copies_see_their_rank_and_cancel_by_name_ends_them_all(sky, tmp_path):
    out = sky("jobs", "launch", "-y", "--output", "json", "-n", "pair", "--num-jobs", "2", "--cpus", "0.25",
              f"echo rank $SKYPILOT_JOB_RANK >> {tmp_path}/ranks; sleep 600", check=True)
    ids = json.loads(out.out)["job_ids"]
    assert len(ids) == 2
    wait_for(lambda: (tmp_path / "ranks").exists() and len((tmp_path / "ranks").read_text().splitlines()) == 2, 120, "both copies running")
    assert sorted((tmp_path / "ranks").read_text().splitlines()) == ["rank 0", "rank 1"]
    result = sky("jobs", "cancel", "-y", "-n", "pair", check=True)
    assert "Cancelling managed job(s)" in result.out
    wait_for(lambda: all(_queue(sky)[i]["status"] == "CANCELLED" for i in ids), 60, "both cancelled")
    missing = sky("jobs", "cancel", "-y", "-n", "nope")
    assert missing.code != 0 and "No managed job named 'nope'" in missing.err
    assert sky("jobs", "cancel", "-y").code != 0  # neither ids, a name nor -a
    assert sky("jobs", "launch", "-y", "--pool", "p", "echo").err.count("No pool named 'p'") == 1
