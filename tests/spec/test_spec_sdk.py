"""The spec classes used from Python, without writing YAML."""

from __future__ import annotations

from pathlib import Path

import pytest

import skyhop
from skyhop.spec.infra import Infra
from skyhop.spec.quantities import Accelerator, Autostop, JobRecovery, Quantity
from skyhop.spec.task import FileMount

VALID_DIR = Path(__file__).parent / "corpus" / "valid"


def test_task_with_resources_from_python() -> None:
    task = skyhop.Task(
        name="train",
        run="python train.py",
        resources=skyhop.Resources(accelerators="H100:8", infra="aws", cpus="8+"),
    )
    assert task.resources.accelerators == (Accelerator("H100", 8),)
    assert task.resources.infra == Infra("aws")
    assert task.resources.cpus == Quantity(8, at_least=True)
    assert task.num_nodes == 1
    assert task.to_dict() == {
        "name": "train",
        "resources": {"infra": "aws", "accelerators": "H100:8", "cpus": "8+"},
        "run": "python train.py",
    }
    # The same task written as YAML is equal.
    assert skyhop.Task.from_yaml_str(task.to_yaml()) == task
    assert task.resources.describe() == "H100:8, 8+ vCPUs, on aws"


def test_python_task_equals_the_yaml_one() -> None:
    from_python = skyhop.Task(
        name="llama-finetune",
        run="torchrun --nproc_per_node=8 train.py --model meta-llama/Llama-3.1-8B\n",
        setup="pip install torch transformers accelerate\n",
        resources=skyhop.Resources(
            infra="aws/us-east-1",
            accelerators={"H100": 8},
            use_spot=True,
            disk_size=1024,
            job_recovery={"strategy": "failover", "max_restarts_on_errors": 3},
        ),
    )
    assert from_python == skyhop.Task.from_yaml(VALID_DIR / "train-h100-8-aws.yaml")


def test_resources_constructor_accepts_every_yaml_spelling() -> None:
    r = skyhop.Resources(
        accelerators=["H100:8", "A100-80GB:8"],
        memory=64,
        ports=[8080, "9000-9010"],
        autostop="1h",
        job_recovery="EAGER_NEXT_REGION",
        any_of=[{"infra": "gcp"}, skyhop.Resources(infra="k8s/ctx")],
    )
    assert r.accelerators_ordered is True
    assert r.memory == Quantity(64)
    assert r.ports == ("8080", "9000-9010")
    assert r.autostop == Autostop(60)
    assert r.job_recovery == JobRecovery("EAGER_NEXT_REGION")
    assert [e.infra for e in r.any_of] == [Infra("gcp"), Infra("kubernetes", "ctx")]
    assert skyhop.Resources.from_dict(r.to_dict()) == r
    tiers = r.expand()
    assert [[f"{x.infra}:{x.accelerator}" for x in tier] for tier in tiers] == [
        ["gcp:H100:8", "kubernetes/ctx:H100:8"],
        ["gcp:A100-80GB:8", "kubernetes/ctx:A100-80GB:8"],
    ]


def test_accelerator_set_from_python_is_any_of() -> None:
    r = skyhop.Resources(accelerators={"H100:8", "A100-80GB:8"})
    assert not r.accelerators_ordered
    assert sorted(str(a) for a in r.accelerators) == ["A100-80GB:8", "H100:8"]
    assert len(r.expand()) == 1 and len(r.expand()[0]) == 2


def test_with_overrides_reaches_alternatives_that_set_the_field() -> None:
    base = skyhop.Resources(
        accelerators="H100:8",
        any_of=[{"infra": "aws", "use_spot": True}, {"infra": "gcp"}],
    )
    changed = base.with_overrides(use_spot=False, accelerators="A100:8")
    assert changed.use_spot is False
    assert [e.use_spot for e in changed.any_of] == [False, None]  # only where the entry set it
    assert changed.accelerators == (Accelerator("A100", 8),)
    assert {str(r.accelerator) for r in changed.expand()[0]} == {"A100:8"}
    assert {r.use_spot for r in changed.expand()[0]} == {False}


def test_task_from_python_dicts_and_file_mounts() -> None:
    task = skyhop.Task(resources={"accelerators": "L4:1"}, file_mounts={"/data": "s3://bucket/data"})
    assert task.resources.accelerators == (Accelerator("L4", 1),)
    assert task.file_mounts == {"/data": FileMount(source="s3://bucket/data")}


@pytest.mark.parametrize("num_nodes", [0, -1, True, 1.5])
def test_task_rejects_bad_num_nodes(num_nodes: object) -> None:
    with pytest.raises(skyhop.SpecError) as caught:
        skyhop.Task(run="x", num_nodes=num_nodes)  # type: ignore[arg-type]
    assert caught.value.path == "num_nodes"


def test_resources_errors_name_the_field() -> None:
    with pytest.raises(skyhop.SpecError) as caught:
        skyhop.Resources(accelerators="H100:lots")
    assert caught.value.path == "resources.accelerators"
    with pytest.raises(skyhop.SpecError) as caught:
        skyhop.Resources(infra="awz")
    assert caught.value.path == "resources.infra"
    assert "Did you mean 'aws'?" in str(caught.value)
    with pytest.raises(skyhop.SpecError) as caught:
        skyhop.Resources(any_of=[{"cpu": 4}])
    assert caught.value.path == "resources.any_of[0].cpu"
    assert "Did you mean 'cpus'?" in str(caught.value)


def test_from_yaml_accepts_str_and_path_and_reports_missing_files(tmp_path: Path) -> None:
    path = VALID_DIR / "hello-cpu.yaml"
    assert skyhop.Task.from_yaml(path) == skyhop.Task.from_yaml(str(path))
    assert skyhop.Task.from_yaml(path).name == "hello"
    with pytest.raises(skyhop.SpecError, match="file not found"):
        skyhop.Task.from_yaml(tmp_path / "missing.yaml")
    with pytest.raises(skyhop.SpecError, match="is a directory"):
        skyhop.Task.from_yaml(tmp_path)


def test_pipeline_chain_from_python() -> None:
    first = skyhop.Task(name="a", run="echo a", outputs={"s3://b/x": 10})
    second = skyhop.Task(name="b", run="echo b")
    pipeline = skyhop.Pipeline.chain([first, second], name="p")
    assert pipeline.edges == ((0, 1),) and pipeline.is_chain
    with pytest.raises(skyhop.SpecError, match="cycle"):
        skyhop.Pipeline((first, second), edges=((0, 1), (1, 0)))
    with pytest.raises(skyhop.SpecError, match="at least one task"):
        skyhop.Pipeline(())


def test_spec_error_is_a_skyhop_error() -> None:
    assert issubclass(skyhop.SpecError, skyhop.SkyhopError)
