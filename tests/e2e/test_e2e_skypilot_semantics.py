"""What SkyPilot's own smoke-test tasks check, run through the real CLI on the local provider.

Our own task files with the behaviours of SkyPilot's `examples/env_check.yaml`
and `tests/test_yamls/{failed_setup,failed_worker_setup,failed_worker_run,
long_log_line,streaming_logs,cr_progress_bar}.yaml`, expecting the outcomes
SkyPilot gives: setup and run in an interactive bash (so ~/.bashrc is
sourced), one failing rank fails the job at once instead of leaving the
others hanging, and logs stream whole lines, long lines and `\\r` frames.
"""

from __future__ import annotations

import time

import pytest

ENV_CHECK = """\
num_nodes: 2
setup: |
  echo "export TEST_VAR=from-bashrc" >> ~/.bashrc
  [[ -v CUDA_VISIBLE_DEVICES ]] && exit 1 || exit 0
run: |
  [[ -n "$TEST_VAR" ]] || { echo "TEST_VAR is not set"; exit 1; }
  echo "rank=$SKYPILOT_NODE_RANK test_var=$TEST_VAR task=${SKYPILOT_TASK_ID:+set}"
  echo "$SKYPILOT_NODE_IPS" | wc -l | grep -qx 2 || { echo "expected 2 node IPs"; exit 1; }
  echo "worker=$(echo "$SKYPILOT_NODE_IPS" | sed -n 2p)"
"""


def test_env_check_setup_bashrc_reaches_run_on_every_node(sky):
    result = sky("launch", "-y", "-c", "envc", sky.task("env_check.yaml", ENV_CHECK))
    assert result.code == 0, result.out + result.err
    for rank in (0, 1):
        assert f"rank={rank} test_var=from-bashrc task=set" in result.out
    assert "worker=127.0.0.1" in result.out
    # A local node's ~ is its own directory: the task edited that .bashrc, never the user's.
    assert "TEST_VAR" in (sky.node_dir("envc", 1) / ".bashrc").read_text()
    assert not (sky.home / ".bashrc").exists()


def test_failed_setup_skips_run(sky):
    result = sky("launch", "-y", "-c", "fs", sky.task("fs.yaml", "setup: |\n  echo failed setup\n  exit 1\nrun: echo run-reached\n"))
    assert result.code != 0 and "failed setup" in result.out and "run-reached" not in result.out
    assert sky.jobs("fs")[1]["status"] == "FAILED_SETUP"


def test_one_failed_worker_setup_fails_the_job_without_waiting_for_the_others(sky):
    task = sky.task("fws.yaml", 'num_nodes: 3\nsetup: |\n  [ "$SKYPILOT_NODE_RANK" == "1" ] && exit 1\n  sleep 10000\nrun: echo Should not get here\n')
    started = time.monotonic()
    result = sky("launch", "-y", "-c", "fws", task, timeout=300)
    assert result.code != 0 and "Should not get here" not in result.out
    job = sky.jobs("fws")[1]
    assert job["status"] == "FAILED_SETUP" and "node 1" in (job["failure_reason"] or "")
    assert time.monotonic() - started < 240  # the sleeping ranks were stopped, not waited for


def test_one_failed_worker_run_fails_the_job_without_waiting_for_the_others(sky):
    task = sky.task("fwr.yaml", 'num_nodes: 3\nrun: |\n  [ "$SKYPILOT_NODE_RANK" == "1" ] && exit 1\n  echo My rank: $SKYPILOT_NODE_RANK\n  sleep 10000\n')
    result = sky("launch", "-y", "-c", "fwr", task, timeout=300)
    assert result.code == 1
    job = sky.jobs("fwr")[1]
    assert job["status"] == "FAILED" and "node 1" in (job["failure_reason"] or "")


LONG_LINE = """\
run: |
  python3 -c "
  print('LONG_LOG_LINE_START')
  print('x' * 300000)
  print('LONG_LOG_LINE_END')
  "
"""


def test_a_300k_character_line_arrives_intact(sky):
    result = sky("launch", "-y", "-c", "long", sky.task("long.yaml", LONG_LINE), check=True)
    assert "LONG_LOG_LINE_START\n" + "x" * 300000 + "\nLONG_LOG_LINE_END" in result.out
    logs = sky("logs", "long", "1", check=True)
    assert "\n" + "x" * 300000 + "\n" in logs.out


CR_FRAMES = """\
run: |
  python3 -c "
  import sys
  for i in range(5):
      sys.stdout.write(f'\\\\rprogress-frame-{i}')
      sys.stdout.flush()
  sys.stdout.write('\\\\n')
  print('PROGRESS_BAR_DONE')
  "
"""


def test_carriage_return_progress_frames_are_kept(sky):
    result = sky("launch", "-y", "-c", "cr", sky.task("cr.yaml", CR_FRAMES), check=True)
    assert "progress-frame-4" in result.out and "PROGRESS_BAR_DONE" in result.out
    # (The test reads text with universal newlines, so each `\r` shows up as a line end.)
    logs = sky("logs", "cr", "1", check=True).out
    assert "".join(f"\nprogress-frame-{i}" for i in range(5)) + "\nPROGRESS_BAR_DONE" in logs


STREAMING = """\
run: |
  python3 -u -c "
  import time
  for i in range(6):
      print(f'STREAM_TICK_{i}')
      time.sleep(3)
  print('STREAM_DONE')
  "
"""


@pytest.mark.slow
def test_logs_follow_streams_ticks_as_they_happen(sky):
    sky("launch", "-y", "-c", "tick", "-d", sky.task("tick.yaml", STREAMING), check=True)
    follower = sky.popen("logs", "tick", "1", "--follow")
    assert follower.stdout is not None
    seen: dict[str, float] = {}
    for line in follower.stdout:
        seen.setdefault(line.strip(), time.monotonic())
    assert follower.wait(timeout=60) == 0
    assert "STREAM_DONE" in seen and "STREAM_TICK_5" in seen
    # A buffered follower would deliver every tick at once at the end; ours saw them seconds apart
    # (the job runs 18 s; even a slow start of the follower leaves several ticks to arrive live).
    assert seen["STREAM_DONE"] - min(seen.values()) >= 5, seen
