"""A CPU-only task prefers machines without accelerators (docs/task-yaml.md, "Defaults").

Pools of existing machines with GPUs serve CPU-only tasks, so the optimizer must
not put a CPU job on an A100:8 host while a plain machine fits, even a dearer one,
and the plan says when it had to.
"""

from __future__ import annotations

from skyhop.catalog.index import Catalog
from skyhop.catalog.offer import Offer
from skyhop.optimizer.scope import Scope
from skyhop.optimizer.search import optimize_task
from skyhop.spec.task import Task

GPU_POOL = [
    Offer("ssh", "pool-gpu", None, 0.0, 8.0, 32.0, "gpu", None, 0.5, None, None),
    Offer("ssh", "pool-gpu", "A100", 8.0, 8.0, 32.0, "gpu", None, 0.5, None, None),
]
CPU_POOL = [Offer("ssh", "pool-cpu", None, 0.0, 8.0, 32.0, "cpu", None, 1.0, None, None)]
SCOPE = Scope(("ssh",), existing=frozenset({"ssh"}))


def _plan(offers, resources=None):
    task = Task.from_dict({"run": "echo hi", **({"resources": resources} if resources else {})})
    return optimize_task(task, Catalog(offers), SCOPE)


def test_a_cpu_task_takes_the_plain_machine_even_when_the_gpu_host_is_cheaper():
    plan = _plan(GPU_POOL + CPU_POOL)
    assert plan.chosen.offer.region == "cpu"
    assert [c.offer.region for c in plan.candidates] == ["cpu", "gpu"]  # the GPU host is the failover, not the choice
    assert any("machines without accelerators come first" in note and "ssh/gpu" in note for note in plan.notes)


def test_a_cpu_task_takes_a_gpu_host_only_when_nothing_plain_fits_and_says_so():
    plan = _plan(GPU_POOL)
    assert plan.chosen.offer.region == "gpu"
    assert any("no machine without accelerators fits" in note for note in plan.notes)


def test_gpu_tasks_and_plain_pools_are_unaffected():
    assert _plan(GPU_POOL + CPU_POOL, {"accelerators": "A100:8"}).chosen.offer.region == "gpu"
    plain = _plan(CPU_POOL)
    assert plain.chosen.offer.region == "cpu" and not any("CPU-only" in note for note in plain.notes)


def test_catalog_vms_whose_gpus_are_attached_apart_stay_plain_machines():
    """GCP prices n1 hosts and their T4s apart: the bare n1 host is a plain VM, not a GPU host."""
    n1 = [
        Offer("gcp", "n1-standard-8", None, 0.0, 8.0, 30.0, "us-central1", "us-central1-a", 0.38, None, None),
        Offer("gcp", "n1-standard-8", "T4", 1.0, 8.0, 30.0, "us-central1", "us-central1-a", 0.73, None, None),
    ]
    task = Task.from_dict({"run": "echo hi"})
    plan = optimize_task(task, Catalog(n1 + CPU_POOL), Scope(("gcp", "ssh"), existing=frozenset({"ssh"})))
    assert plan.chosen.offer.cloud == "gcp" and not any("CPU-only" in note for note in plan.notes)
