"""The environment a job's processes see on each node.

SkyPilot's variable names (`SKYPILOT_NODE_RANK`, ...) let SkyPilot tasks run
unchanged; every one also exists under a `SKYHOP_` name for skyhop-native tasks.
The job's own `envs` come first so these facts about the cluster cannot be
overridden by accident.
"""

from __future__ import annotations

import json
import time

TYPE_CHECKING = False  # typing's constant without importing typing (see cli.py)
if TYPE_CHECKING:
    from skyhop_agent.config import Cluster
    from skyhop_agent.jobtable import Job


def task_id(cluster: Cluster, job: Job) -> str:
    """The spec's task id, else one derived from stored facts (stable across setup and run)."""
    stamp = time.strftime("%Y-%m-%d-%H-%M-%S", time.localtime(job.submitted_at))
    return job.spec.get("task_id") or f"skyhop-{cluster.name}-{job.job_id}-{stamp}"


def _with_twins(skypilot_vars: dict[str, str]) -> dict[str, str]:
    twins = {"SKYHOP_" + key[len("SKYPILOT_") :]: value for key, value in skypilot_vars.items()}
    return dict(skypilot_vars, **twins)


def job_env(cluster: Cluster, job: Job, rank: int, phase: str, progress_file: str | None = None) -> dict[str, str]:
    """Variables for node `rank` (job-relative) of `job` in `phase` ("setup" or "run").

    Rank 0's run also gets `SKYHOP_PROGRESS_FILE` (on the head, where the agent reads it): a job
    that writes its progress there (a fraction 0..1) tells deadline policies how far it is.
    """
    assert job.placement is not None
    nodes = [cluster.nodes[slot["node"]] for slot in job.placement]
    ips = "\n".join(node.ip for node in nodes)
    # Setup also sees the run names: SkyPilot's own failed_worker_setup task tells ranks apart by SKYPILOT_NODE_RANK.
    prefixes = ("SKYPILOT_SETUP_", "SKYPILOT_") if phase == "setup" else ("SKYPILOT_",)
    info = {"cluster_name": cluster.name, "num_nodes": len(cluster.nodes), "provider": cluster.provider, "user": job.user}
    skypilot = {
        **{prefix + "NODE_RANK": str(rank) for prefix in prefixes},
        **{prefix + "NODE_IPS": ips for prefix in prefixes},
        "SKYPILOT_NUM_NODES": str(job.num_nodes),
        "SKYPILOT_NUM_GPUS_PER_NODE": str(sum(job.gpus.values())),
        "SKYPILOT_TASK_ID": task_id(cluster, job),
        "SKYPILOT_CLUSTER_INFO": json.dumps(info),
        "SKYPILOT_USER": job.user,
        "SKYPILOT_CLUSTER_NAME": cluster.name,
        "SKYPILOT_JOB_ID": str(job.job_id),
    }
    env = dict(job.spec["envs"])
    env.update(_with_twins(skypilot))
    if progress_file is not None and rank == 0 and phase == "run":
        env["SKYHOP_PROGRESS_FILE"] = progress_file
    gpu_ids = job.placement[rank]["gpu_ids"]
    if gpu_ids:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for kind in sorted(gpu_ids) for i in gpu_ids[kind])
    return env
