"""Managed jobs end to end on the local provider: the real CLI, the real API server hosting the controller."""

from __future__ import annotations

import json
import time

import pytest
from e2e_support import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def sky(jobs_cli):
    return jobs_cli


def _row(sky, job_id: int) -> dict:
    return next(r for r in sky.json("jobs", "queue") if r["id"] == job_id)


def test_a_managed_job_runs_to_succeeded_and_leaves_nothing(sky):
    result = sky("jobs", "launch", "-y", "-n", "hello", "echo hello from $SKYPILOT_TASK_ID after $SKYPILOT_NUM_RECOVERIES", check=True, timeout=180)
    assert "hello from skyhop-managed-1 after 0" in result.out
    row = _row(sky, 1)
    assert row["status"] == "SUCCEEDED" and row["recovery_count"] == 0 and row["name"] == "hello"
    assert [a["outcome"] for a in row["attempts"]] == ["succeeded"]
    assert row["attempts"][0]["provider"] == "local" and row["attempts"][0]["cluster"] == "hello-1"
    wait_for(lambda: sky.clusters() == {}, 60, "the job's clusters taken down")
    events = sky("jobs", "logs", "1", "--controller", "--no-follow", check=True).out
    assert "launching cluster 'hello-1'" in events and "SUCCEEDED" in events


def test_detached_launch_queue_and_logs_follow_to_the_end(sky):
    submitted = sky("jobs", "launch", "-y", "-d", "--output", "json", "-n", "count", "for i in 1 2 3; do echo line $i; sleep 0.3; done", check=True)
    job_id = json.loads(submitted.out)["job_ids"][0]
    wait_for(lambda: _row(sky, job_id)["status"] in ("STARTING", "RUNNING", "SUCCEEDED"), 60, "the controller picked the job up")
    out = sky("jobs", "logs", str(job_id), check=True, timeout=120).out
    assert "line 1" in out and "line 3" in out and f"Job {job_id} is SUCCEEDED" in out
    table = sky("jobs", "queue", check=True).out
    assert "SUCCEEDED" in table and "count" in table
    full = sky("jobs", "queue", "-a", check=True).out
    assert "ATTEMPTS" in full and "local/local on-demand succeeded" in full
    wait_for(lambda: sky.clusters() == {}, 60, "the job's clusters taken down")


CHECKPOINTED = """\
name: ckpt
resources:
  cpus: 0.5
envs:
  CKPT_DIR: {ckpt}
run: |
  start=$(cat $CKPT_DIR/step 2>/dev/null || echo 0)
  echo "run task=$SKYPILOT_TASK_ID recoveries=$SKYPILOT_NUM_RECOVERIES rank=$SKYPILOT_NODE_RANK start=$start" >> $CKPT_DIR/markers
  if [ "$SKYPILOT_NODE_RANK" != 0 ]; then until [ "$(cat $CKPT_DIR/step 2>/dev/null)" = {steps} ]; do sleep 0.2; done; exit 0; fi
  for i in $(seq $((start + 1)) {steps}); do
    sleep 0.4
    if [ $i -gt 2 ]; then until [ -e $CKPT_DIR/go ]; do sleep 0.2; done; fi  # the test says go once it saw the preemption
    echo $i > $CKPT_DIR/step; echo step $i
  done
"""


def _checkpointed(sky, tmp_path, steps: int = 8) -> tuple[str, object]:
    ckpt = tmp_path / "bucket"
    ckpt.mkdir()
    return sky.task("ckpt.yaml", CHECKPOINTED.format(ckpt=ckpt, steps=steps)), ckpt


@pytest.mark.parametrize("nodes, victim", [(1, 0), (2, 1)], ids=["head", "worker-of-2"])
def test_preempted_job_is_detected_recovered_and_resumes_from_its_checkpoint(sky, tmp_path, nodes, victim):
    task, ckpt = _checkpointed(sky, tmp_path)
    submitted = sky("jobs", "launch", "-y", "-d", "--output", "json", "--num-nodes", str(nodes), task, check=True)
    job_id = json.loads(submitted.out)["job_ids"][0]
    wait_for(lambda: (ckpt / "step").exists() and int((ckpt / "step").read_text()) >= 2, 60, "two checkpointed steps")
    cluster = _row(sky, job_id)["cluster"]
    follower = sky.popen("jobs", "logs", str(job_id))  # follows across the recovery, to the end
    preempted_at = time.time()  # the node is gone once chaos returns
    sky("chaos", "preempt", cluster, "--node", str(victim), check=True)
    seen = wait_for(lambda: _row(sky, job_id)["recovery_count"] == 1 and _row(sky, job_id), 30, "the preemption noticed")
    (ckpt / "go").touch()
    # Detected within 15 s: the controller's own record of the attempt's end, not this test's (slower) polling.
    assert _row(sky, job_id)["attempts"][0]["ended_at"] - preempted_at < 15
    assert seen["status"] in ("RECOVERING", "RUNNING", "SUCCEEDED")
    wait_for(lambda: _row(sky, job_id)["status"] == "SUCCEEDED", 120, "the recovered job finished")
    row = _row(sky, job_id)
    assert [a["outcome"] for a in row["attempts"]] == ["preempted", "succeeded"]
    assert row["attempts"][0]["failure_reason"] and "preempted" in row["attempts"][0]["failure_reason"]
    runs = [line for line in (ckpt / "markers").read_text().splitlines() if "rank=0" in line]
    assert len(runs) == 2, runs
    assert runs[0].startswith(f"run task=skyhop-managed-{job_id} recoveries=0") and runs[1].startswith(f"run task=skyhop-managed-{job_id} recoveries=1")
    assert int(runs[1].rsplit("start=", 1)[1]) >= 2  # resumed from its checkpoint, not from zero
    assert (ckpt / "step").read_text().strip() == "8"
    out = sky("jobs", "logs", str(job_id), "--no-follow", check=True).out
    assert "attempt 2" in out and "step 8" in out
    followed, _ = follower.communicate(timeout=60)
    assert follower.returncode == 0 and "step 2" in followed and "attempt 2" in followed and "step 8" in followed, followed
    wait_for(lambda: sky.clusters() == {}, 60, "the job's clusters taken down")
    lines = [line for line in sky.json("cost-report") if line["cluster"] == cluster]
    assert len(lines) == 2 and all(line["status"] == "TERMINATED" for line in lines)
    assert [line["managed_job"]["attempt"] for line in lines] == [1, 2] and {line["managed_job"]["id"] for line in lines} == {job_id}
    assert {line["user"] for line in lines} == {row["user"]}  # the preempted attempt too is billed to the job's owner
    report = sky("cost-report", check=True).out
    assert f"#{job_id} task 0 attempt 2" in report and f"Managed job #{job_id} (ckpt): 2 attempt(s)" in report


def test_errors_restart_as_job_recovery_says_and_failures_get_their_state(sky, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    counted = sky.task("counted.yaml", f"""\
resources:
  job_recovery: {{max_restarts_on_errors: 1}}
run: echo x >> {marks}/counted; exit 3
""")
    by_code = sky.task("code.yaml", f"""\
resources:
  job_recovery: {{recover_on_exit_codes: [7]}}
run: echo x >> {marks}/code; [ $(wc -l < {marks}/code) -ge 3 ] || exit 7
""")
    setup = sky.task("setup.yaml", "setup: exit 5\nrun: echo never\n")
    ids = {}
    for name, path in (("counted", counted), ("code", by_code), ("setup", setup)):
        ids[name] = json.loads(sky("jobs", "launch", "-y", "-d", "-n", name, "--output", "json", path, check=True).out)["job_ids"][0]
    impossible = sky("jobs", "launch", "-y", "-n", "impossible", "--gpus", "H100:8", "--infra", "local", "echo never", timeout=180)
    # Refused at once, as `launch` refuses it (review: it was accepted and ended FAILED_PRECHECKS later).
    assert impossible.code != 0 and "No offer can run the task" in impossible.err and "H100" in impossible.err
    assert "Traceback" not in impossible.err
    finished = ("SUCCEEDED", "FAILED", "FAILED_SETUP")
    wait_for(lambda: all(_row(sky, i)["status"] in finished for i in ids.values()), 180, "the three jobs ended")
    rows = {name: _row(sky, i) for name, i in ids.items()}
    assert (rows["counted"]["status"], rows["counted"]["restarts_on_errors"], rows["counted"]["recovery_count"]) == ("FAILED", 1, 1)
    assert "exit code 3" in rows["counted"]["failure_reason"]
    assert len((marks / "counted").read_text().splitlines()) == 2
    # recover_on_exit_codes restarts however often the code comes, without using up max_restarts_on_errors.
    assert (rows["code"]["status"], rows["code"]["restarts_on_errors"], rows["code"]["recovery_count"]) == ("SUCCEEDED", 0, 2)
    assert rows["setup"]["status"] == "FAILED_SETUP"
    # `jobs logs` of an ended job exits as `jobs launch` would have (review: it exited 0 for FAILED).
    assert sky("jobs", "logs", str(ids["counted"])).code == 1 and sky("jobs", "logs", str(ids["code"])).code == 0
    assert all(r["name"] != "impossible" for r in sky.json("jobs", "queue"))
    wait_for(lambda: sky.clusters() == {}, 60, "the jobs' clusters taken down")


def test_a_pipeline_runs_its_tasks_in_turn_each_on_its_own_cluster(sky, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    pipeline = sky.task("pipeline.yaml", f"""\
name: prep-train
---
name: prep
run: echo prepared > {shared}/data; echo "prep task=$SKYPILOT_TASK_ID"
---
name: train
run: cat {shared}/data; echo "train task=$SKYPILOT_TASK_ID"
""")
    result = sky("jobs", "launch", "-y", pipeline, check=True, timeout=240)
    assert "prepared" in result.out and "prep task=skyhop-managed-1-0" in result.out and "train task=skyhop-managed-1-1" in result.out
    row = _row(sky, 1)
    assert row["name"] == "prep-train" and row["status"] == "SUCCEEDED" and row["num_tasks"] == 2 and row["current_task"] == 1
    assert [(a["task_index"], a["cluster"], a["outcome"]) for a in row["attempts"]] == [
        (0, "prep-train-1-0", "succeeded"), (1, "prep-train-1-1", "succeeded")
    ]
    wait_for(lambda: sky.clusters() == {}, 60, "the pipeline's clusters taken down")


def test_uniform_progress_on_a_machine_without_spot_runs_on_demand_saying_why(sky):
    task = sky.task("deadline.yaml", """\
name: deadline
resources:
  use_spot: true
  job_recovery: {strategy: UNIFORM_PROGRESS, deadline: 2h, runtime: 1h}
run: echo on time
""")
    assert "on time" in sky("jobs", "launch", "-y", task, check=True, timeout=180).out
    events = sky("jobs", "logs", "1", "--controller", "--no-follow", check=True).out
    assert "UNIFORM_PROGRESS picks spot or on-demand" in events and "no spot capacity" in events, events
    assert [(a["use_spot"], a["outcome"]) for a in _row(sky, 1)["attempts"]] == [(True, "no_resource"), (False, "succeeded")]
    refused = sky("jobs", "launch", "-y", "--job-recovery", "UNIFORM_PROGRESS", "echo")
    assert refused.code != 0 and "--job-recovery" in refused.err and "deadline" in refused.err


def test_a_server_killed_under_jobs_logs_is_one_sentence_not_a_traceback(sky):
    """Review found `jobs logs` ending in http.client.IncompleteRead's traceback when the server died."""
    import os
    import signal

    sky("jobs", "launch", "-y", "-d", "-n", "long", "echo started; sleep 30", check=True)
    wait_for(lambda: _row(sky, 1)["status"] == "RUNNING", 90, "the job running")
    follower = sky.popen("jobs", "logs", "1")
    time.sleep(1)
    os.kill(sky.server_pid(), signal.SIGKILL)
    out, err = follower.communicate(timeout=60)
    assert follower.returncode not in (0, None) and "Traceback" not in err, err
    assert "stopped streaming" in err and "skyhop jobs logs 1" in err, err
