"""UNIFORM_PROGRESS end to end on emulated AWS, with spot availability scripted through the fault proxy.

The real CLI and API server host the jobs controller; boto3 talks to moto; each instance's job runs on a
namespace host (`cloud_farm`). The job needs 27 s of work and must finish within 135 s of submission, with
a changeover of 1 s; it writes a checkpoint each second to a directory every host sees (the hosts share
/tmp: the "bucket"), resumes from it, and reports its progress (`SKYHOP_PROGRESS_FILE`). The script:

1. spot is there: the first attempt runs on spot; it does 3 steps, then stalls until it is reclaimed;
2. spot goes away (new spot launches get InsufficientInstanceCapacity) and the running spot instance is
   reclaimed: the controller sees the preemption, tries spot again (no capacity), waits while the job is
   still ahead of its uniform line, then goes on-demand once behind;
3. once it runs on demand, spot comes back: when the job is ahead of the line by two changeovers, the
   policy moves it back to spot, where it finishes, before the deadline.

Why reported progress and a stall (the test once failed under a loaded suite, the job finishing on
demand before the policy moved it back): with progress estimated from time on machines, and a first
attempt that ran until the test got round to reclaiming it (seconds later under load), how much work
was left for the on-demand attempt depended on the machine's load. Now the policy sees the job's own
progress, and the preemption finds exactly 3 of the 27 steps done. Entering on-demand at E s after
submission, the job is moved back to spot after 0.25 * E - 1.25 s of on-demand work (to be 2 s ahead of
the line E / 5), so it stays on demand for a few seconds normally and still leaves spot work when the
controller took over a minute to get there (a stuck SSH connection to the reclaimed machine once did).
The estimate from time on machines has its own tests (tests/managed_jobs/test_deadline_market.py).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from aws_support import aws_instances, aws_leftovers, cli_on_aws
from e2e_support import wait_for

pytest.importorskip("boto3")
pytestmark = pytest.mark.slow

NO_SPOT = "There is no Spot capacity available that matches your request."

TASK = """\
name: up
resources:
  infra: aws/us-east-1
  cpus: 2
  use_spot: true
  job_recovery: {{strategy: UNIFORM_PROGRESS, deadline: {deadline}s, runtime: {steps}s, changeover: 1s}}
envs:
  CKPT: {ckpt}
run: |
  start=$(cat $CKPT/step 2>/dev/null || echo 0)
  echo "start=$start recoveries=$SKYPILOT_NUM_RECOVERIES task=$SKYPILOT_TASK_ID" >> $CKPT/markers
  for i in $(seq $((start + 1)) {steps}); do
    sleep 1; echo $i > $CKPT/step; awk "BEGIN {{ print $i / {steps} }}" > $SKYHOP_PROGRESS_FILE
    if [ $start = 0 ] && [ $i = {stall_at} ]; then while :; do sleep 1; done; fi  # the first attempt waits to be reclaimed
  done
"""
STEPS, DEADLINE, STALL_AT = 27, 135, 3


@pytest.fixture
def aws_prefix(cloud_farm) -> str:
    return cloud_farm.prefix  # moto hands out addresses the farm's hosts can take on


@pytest.fixture
def sky(cloud_farm, aws_proxy, aws_home: Path, aws_catalog: Path, tmp_path: Path, migrated_state_db):
    aws_proxy.adopter = cloud_farm
    config = aws_home / ".skyhop" / "config.yaml"
    settings = yaml.safe_load(config.read_text())
    settings["jobs"] = {"poll_seconds": 0.5, "controller_tick_seconds": 0.2, "spot_retry_seconds": 2}
    config.write_text(yaml.safe_dump(settings))
    runner = cli_on_aws(aws_home, aws_catalog, tmp_path, migrated_state_db)
    yield runner
    try:
        if (runner.skyhop_home / "api" / "server.json").exists():
            runner("jobs", "cancel", "-a", "-y", timeout=60)
    finally:
        runner.teardown()


def _job(sky) -> dict:
    [row] = [r for r in sky.json("jobs", "queue", "-a") if r["id"] == 1]
    return row


def _step(ckpt: Path) -> int:
    try:
        return int((ckpt / "step").read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def test_uniform_progress_goes_spot_on_demand_spot_and_meets_the_deadline(sky, aws_proxy, moto_server, tmp_path):
    from cloudsim.aws_proxy import Rule

    ckpt = Path(tempfile_dir(tmp_path))
    submitted_at = time.time()
    sky("jobs", "launch", "-y", "-d", sky.task("up.yaml", TASK.format(ckpt=ckpt, steps=STEPS, deadline=DEADLINE, stall_at=STALL_AT)), check=True)

    # 1. On spot, making progress.
    wait_for(lambda: _step(ckpt) == STALL_AT, 120, "the job to make progress on its first (spot) attempt")
    first = _job(sky)["attempts"][0]
    assert first["spot"] is True, first

    # 2. Spot goes away and the running instance is reclaimed.
    aws_proxy.add(Rule("RunInstances", "InsufficientInstanceCapacity", NO_SPOT, status=500, market="spot"))
    [instance] = aws_instances(moto_server.url, first["cluster"])
    aws_proxy.reclaim(instance["InstanceId"])
    # Spot comes back as soon as the on-demand attempt exists (while it launches), long before the policy could move
    # the job back: it needs the job two changeovers ahead of its line, seconds of on-demand work away.
    wait_for(lambda: any(a["use_spot"] is False and a["outcome"] is None for a in _job(sky)["attempts"]), 120,
             "the policy to go on-demand once the job fell behind its line")

    # 3. Spot comes back while the job runs on demand; ahead by two changeovers, it moves back to spot.
    aws_proxy.clear()
    try:
        wait_for(lambda: _job(sky)["status"] in ("SUCCEEDED", "FAILED", "FAILED_NO_RESOURCE", "FAILED_CONTROLLER"), DEADLINE, "the job to end")
    except AssertionError as timeout:
        events = sky("jobs", "logs", "1", "--controller", "--no-follow").out
        raise AssertionError(f"{timeout}\n{events}\n{json.dumps(_job(sky), indent=1)}") from None
    job = _job(sky)
    assert job["status"] == "SUCCEEDED", job
    markets = [("spot" if a["use_spot"] else "on-demand", a["outcome"]) for a in job["attempts"]]
    assert markets[0] == ("spot", "preempted"), markets
    assert ("spot", "no_resource") in markets, markets
    assert ("on-demand", "switched") in markets, markets
    assert markets[-1] == ("spot", "succeeded"), markets
    assert job["ended_at"] - submitted_at < DEADLINE, "the deadline was met"
    runs = (ckpt / "markers").read_text().splitlines()
    assert runs[0].startswith("start=0 ") and all(not line.startswith("start=0 ") for line in runs[1:]), runs  # resumed each time
    assert _step(ckpt) == STEPS
    wait_for(lambda: sky.clusters() == {}, 120, "the job's clusters taken down")
    for attempt in job["attempts"]:
        assert aws_leftovers(moto_server.url, attempt["cluster"]) == {}, attempt
    events = sky("jobs", "logs", "1", "--controller", "--no-follow", check=True).out
    assert "UNIFORM_PROGRESS" in events and "no spot capacity" in events and "market policy moved the job" in events, events
    print(json.dumps(markets))
    print(events)


def tempfile_dir(tmp_path: Path) -> str:
    bucket = tmp_path / "bucket"
    bucket.mkdir(mode=0o777)
    return str(bucket)
