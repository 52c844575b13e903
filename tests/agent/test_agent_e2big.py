"""A job whose environment the kernel refuses fails saying which limit it hit.

skyhop refuses such a task when it is made (tests/managed_jobs/test_hostile_env.py); past
that check (a spec sent to the agent directly, a node whose own environment is huge) the
job's failure read "job driver error: [Errno 7] Argument list too long: 'bash'".
"""

from __future__ import annotations

from agent_harness import MakeCluster

#: One `NAME=value` over Linux's MAX_ARG_STRLEN (32 pages).
OVER = 128 * 1024 + 1


def test_an_environment_the_kernel_refuses_fails_the_job_saying_so(make_cluster: MakeCluster) -> None:
    agent = make_cluster()
    job_id = agent.submit(run="echo never", envs={"BIG": "x" * OVER})
    record = agent.wait(job_id)
    assert record["status"] == "FAILED"
    assert "E2BIG: 128 KiB per variable" in record["failure_reason"], record
