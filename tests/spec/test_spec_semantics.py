"""What the valid corpus files mean, beyond "they parse": targeted checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from skyhop.spec.errors import SpecError
from skyhop.spec.infra import Infra
from skyhop.spec.pipeline import Pipeline
from skyhop.spec.quantities import Accelerator, Autostop, JobRecovery, Quantity
from skyhop.spec.resources import Resources
from skyhop.spec.service import ServiceSpec
from skyhop.spec.task import REDACTED, FileMount, Task

VALID_DIR = Path(__file__).parent / "corpus" / "valid"


def load(name: str, **overrides: str) -> Task:
    return Task.from_yaml(VALID_DIR / f"{name}.yaml", env_overrides=overrides or None)


def accelerator_tiers(resources: Resources) -> list[list[str]]:
    return [[str(r.accelerator) for r in tier] for tier in resources.expand()]


# -- ${VAR} substitution and --env ------------------------------------------


def test_substitution_fills_workdir_and_file_mounts_from_envs() -> None:
    task = load("substitution")
    assert task.workdir == "~/projects/vision"
    assert task.file_mounts["/data"] == FileMount(source="s3://team-datasets/vision/train")
    # Destinations and bucket names are substituted too.
    assert set(task.file_mounts) == {"/data", "/ckpt/run-42", "/out"}
    assert task.file_mounts["/ckpt/run-42"] == FileMount(name="team-datasets-ckpt", store="s3")
    # A null env is left as written, so the user sees what is missing...
    assert task.file_mounts["/out"].source == "s3://${OUTPUT_BUCKET}/results"
    assert task.missing_envs() == ["OUTPUT_BUCKET"]
    # ...and `--env` fills it before substitution.
    filled = load("substitution", OUTPUT_BUCKET="results-bucket")
    assert filled.file_mounts["/out"].source == "s3://results-bucket/results"
    assert filled.envs["OUTPUT_BUCKET"] == "results-bucket"
    assert filled.missing_envs() == []
    filled.require_envs()  # does not raise


def test_env_override_replaces_a_declared_value_before_substitution() -> None:
    task = load("substitution", PROJECT="audio")
    assert task.workdir == "~/projects/audio"
    assert task.file_mounts["/data"].source == "s3://team-datasets/audio/train"


def test_envs_values_are_strings_and_null_env_is_required() -> None:
    task = load("envs-null")
    assert task.envs == {
        "MODEL": "Qwen/Qwen2.5-7B",
        "BATCH_SIZE": "32",
        "LR": "0.0003",
        "DEBUG": "false",
        "WANDB_PROJECT": None,
    }
    assert task.missing_envs() == ["WANDB_PROJECT"]
    with pytest.raises(SpecError) as caught:
        task.require_envs()
    assert caught.value.path == "envs.WANDB_PROJECT"
    assert "--env WANDB_PROJECT=..." in str(caught.value)
    given = load("envs-null", WANDB_PROJECT="my-project", EXTRA="1")
    assert given.envs["WANDB_PROJECT"] == "my-project"
    assert given.envs["EXTRA"] == "1"  # an undeclared --env is added as an env
    assert given.missing_envs() == []


def test_env_override_fills_a_declared_secret_and_stays_secret() -> None:
    task = load("secrets")
    assert task.missing_envs() == ["WANDB_API_KEY"]
    with pytest.raises(SpecError) as caught:
        task.require_envs()
    assert caught.value.path == "secrets.WANDB_API_KEY"
    assert "--env WANDB_API_KEY=..." in str(caught.value)

    filled = load("secrets", WANDB_API_KEY="wandb-secret-value")
    assert filled.secrets["WANDB_API_KEY"] == "wandb-secret-value"
    assert "WANDB_API_KEY" not in filled.envs
    assert filled.missing_envs() == []
    assert "wandb-secret-value" not in repr(filled)
    assert "wandb-secret-value" not in filled.to_yaml()


def test_secret_overrides_and_overlap_with_envs() -> None:
    data = {"envs": {"A": "1"}, "secrets": {"TOKEN": None}, "run": "echo"}
    task = Task.from_dict(data, secret_overrides={"TOKEN": "t0k3n"})
    assert task.secrets == {"TOKEN": "t0k3n"}
    with pytest.raises(SpecError) as caught:
        Task.from_dict(data, secret_overrides={"A": "x"})
    assert caught.value.path == "secrets.A"


def test_secrets_are_redacted_in_dumps_and_absent_from_repr() -> None:
    task = load("secrets")
    assert task.secrets == {"HF_TOKEN": "hf_abcdefghijklmnop", "WANDB_API_KEY": None}
    assert task.to_dict()["secrets"] == {"HF_TOKEN": REDACTED, "WANDB_API_KEY": None}
    assert "hf_abcdefghijklmnop" not in task.to_yaml()
    assert task.to_dict(redact_secrets=False)["secrets"]["HF_TOKEN"] == "hf_abcdefghijklmnop"
    for text in (repr(task), str(task)):
        assert "hf_abcdefghijklmnop" not in text
        assert "HF_TOKEN" not in text
    # Envs are not secret: they show.
    assert "meta-llama/Llama-3.1-8B" in repr(task)


# -- accelerators and alternatives -------------------------------------------


def test_accelerator_flow_set_is_one_tier_of_two_alternatives() -> None:
    resources = load("accel-flow-set").resources
    assert resources.accelerators == (Accelerator("H100", 8), Accelerator("A100-80GB", 8))
    assert resources.accelerators_ordered is False
    tiers = resources.expand()
    assert accelerator_tiers(resources) == [["H100:8", "A100-80GB:8"]]
    assert all(r.use_spot is True for r in tiers[0])  # base fields carried into each alternative
    assert resources.to_dict()["accelerators"] == {"H100": 8, "A100-80GB": 8}


def test_accelerator_list_is_two_ordered_tiers() -> None:
    resources = load("accel-ordered-list").resources
    assert resources.accelerators_ordered is True
    assert accelerator_tiers(resources) == [["H100:8"], ["A100-80GB:8"]]
    assert resources.to_dict()["accelerators"] == ["H100:8", "A100-80GB:8"]


def test_list_of_one_entry_dicts_is_ordered() -> None:
    assert accelerator_tiers(load("gpus-list-of-dicts").resources) == [["H100:8"], ["H200:8"], ["A100-80GB:8"]]


def test_block_mapping_of_several_is_any_of() -> None:
    assert accelerator_tiers(load("accel-block-dict-multi").resources) == [["L40S:1", "A10G:1", "L4:2"]]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("train-h100-8-aws", Accelerator("H100", 8)),
        ("accel-bare-name", Accelerator("H100", 1)),
        ("accel-dict-single", Accelerator("H100", 8)),
        ("accel-fractional", Accelerator("T4", 0.5)),
        ("gpus-key", Accelerator("L4", 1)),
    ],
)
def test_single_accelerator_spellings(name: str, expected: Accelerator) -> None:
    resources = load(name).resources
    assert resources.accelerators == (expected,)
    assert accelerator_tiers(resources) == [[str(expected)]]


def test_same_accelerator_at_two_counts_survives_a_dump() -> None:
    resources = Resources.from_dict({"accelerators": {"H100:8": None, "H100:4": None}})
    assert resources.accelerators == (Accelerator("H100", 8), Accelerator("H100", 4))
    assert Resources.from_dict(resources.to_dict()) == resources
    assert accelerator_tiers(resources) == [["H100:8", "H100:4"]]


def test_fractional_accelerator_dumps_as_written() -> None:
    resources = load("accel-fractional").resources
    assert str(resources.accelerator) == "T4:0.5"
    assert resources.to_dict()["accelerators"] == "T4:0.5"


def test_aliases_are_canonicalised_in_tasks() -> None:
    resources = load("accel-aliases").resources
    assert [str(e.accelerators[0]) for e in resources.any_of] == ["H100:8", "A100-80GB:8", "RTXA6000:4"]


def test_any_of_entries_inherit_base_fields() -> None:
    resources = load("any-of").resources
    (tier,) = resources.expand()
    assert [str(r.infra) for r in tier] == ["aws", "gcp/us-central1", "lambda"]
    for request in tier:
        assert request.accelerators == (Accelerator("A100-80GB", 8),)
        assert request.disk_size == 500
    # An entry's own value wins over the base's.
    assert [r.use_spot for r in tier] == [True, True, False]


def test_ordered_entries_are_tiers_and_inherit_base_fields() -> None:
    resources = load("ordered").resources
    tiers = resources.expand()
    assert [[(str(r.infra) if r.infra else None, str(r.accelerator)) for r in tier] for tier in tiers] == [
        [("lambda", "H100:8")],
        [("gcp", "H100:8")],
        [(None, "H200:8")],
    ]
    assert all(r.cpus == Quantity(16, at_least=True) for tier in tiers for r in tier)


def test_alternatives_holding_accelerator_sets_and_lists() -> None:
    resources = load("any-of-with-accel-sets").resources
    tiers = resources.expand()
    described = [[f"{r.infra}:{r.accelerator}" for r in tier] for tier in tiers]
    # The set competes in the first tier; the list's second choice waits for a later tier.
    assert described == [["aws:H100:8", "aws:A100-80GB:8", "azure:H100:8"], ["azure:A100:8"]]
    assert all(r.memory == Quantity(128, at_least=True) for tier in tiers for r in tier)


def test_max_hourly_cost_applies_to_every_alternative() -> None:
    resources = load("max-hourly-cost").resources
    (tier,) = resources.expand()
    assert len(tier) == 3
    assert {r.max_hourly_cost for r in tier} == {2.5}


# -- infra --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected", "written"),
    [
        ("infra-k8s-context", Infra("kubernetes", "gke_my-project_us-central1_prod"), "kubernetes/gke_my-project_us-central1_prod"),
        ("infra-ssh-pool", Infra("ssh", "lab-rack-2"), "ssh/lab-rack-2"),
        ("infra-wildcard-region", Infra("gcp", None, "us-central1-a"), "gcp/*/us-central1-a"),
        ("infra-cloud-only", Infra("lambda"), "lambda"),
        ("infra-region-zone", Infra("aws", "us-west-2", "us-west-2b"), "aws/us-west-2/us-west-2b"),
        ("infra-any-cloud-region", Infra(None, "us-east-1"), "*/us-east-1"),
        ("accel-fractional", Infra("kubernetes"), "kubernetes"),
        ("legacy-cloud-region", Infra("aws", "us-east-1"), "aws/us-east-1"),
        ("legacy-cloud-region-zone", Infra("gcp", "us-central1", "us-central1-a"), "gcp/us-central1/us-central1-a"),
        ("legacy-cloud-only", Infra("azure"), "azure"),
        ("legacy-k8s", Infra("kubernetes", "kind-skyhop"), "kubernetes/kind-skyhop"),
    ],
)
def test_infra_forms(name: str, expected: Infra, written: str) -> None:
    task = load(name)
    assert task.resources.infra == expected
    dumped = task.to_dict()["resources"]
    assert dumped["infra"] == written
    assert not {"cloud", "region", "zone"} & set(dumped)  # legacy fields are written back as infra


def test_infra_matches() -> None:
    zone_pin = load("infra-wildcard-region").resources.infra
    assert zone_pin.matches("gcp", "us-central1", "us-central1-a")
    assert not zone_pin.matches("gcp", "us-central1", "us-central1-b")
    assert not zone_pin.matches("aws", "us-central1", "us-central1-a")
    assert load("infra-any-cloud-region").resources.infra.matches("aws", "us-east-1", None)


# -- other resource fields -----------------------------------------------------


def test_quantities() -> None:
    exact = load("cpus-memory-numbers").resources
    assert (exact.cpus, exact.memory) == (Quantity(8), Quantity(32))
    assert exact.cpus.satisfied_by(8) and not exact.cpus.satisfied_by(16)
    at_least = load("cpus-memory-at-least").resources
    assert (at_least.cpus, at_least.memory) == (Quantity(16, True), Quantity(64.5, True))
    assert at_least.memory.satisfied_by(128) and not at_least.memory.satisfied_by(64)
    assert at_least.to_dict()["memory"] == "64.5+"


def test_ports() -> None:
    assert load("ports-int").resources.ports == ("8080",)
    assert load("ports-range").resources.ports == ("8000-8010",)
    many = load("ports-list").resources
    assert many.ports == ("8080", "9000-9010", "22")
    assert many.to_dict()["ports"] == [8080, "9000-9010", 22]


@pytest.mark.parametrize(
    ("name", "expected", "dumped"),
    [
        ("autostop-bool", Autostop(5), 5),
        ("autostop-off", Autostop(0, enabled=False), False),
        ("autostop-int", Autostop(30), 30),
        ("autostop-duration", Autostop(120), 120),
        ("autostop-dict", Autostop(60, down=True), {"idle_minutes": 60, "down": True}),
    ],
)
def test_autostop_forms(name: str, expected: Autostop, dumped: object) -> None:
    resources = load(name).resources
    assert resources.autostop == expected
    assert resources.to_dict()["autostop"] == dumped


def test_job_recovery_forms() -> None:
    assert load("job-recovery-string").resources.job_recovery == JobRecovery("EAGER_NEXT_REGION")
    assert load("train-h100-8-aws").resources.job_recovery == JobRecovery("FAILOVER", 3)
    legacy = load("spot-recovery-legacy").resources
    assert legacy.job_recovery == JobRecovery("FAILOVER")
    assert legacy.to_dict()["job_recovery"] == "FAILOVER"
    assert "spot_recovery" not in legacy.to_dict()
    # An explicit null job_recovery does not hide the legacy field.
    assert Resources.from_dict({"job_recovery": None, "spot_recovery": "FAILOVER"}).job_recovery == JobRecovery("FAILOVER")


def test_labels_image_ids_and_tiers() -> None:
    assert load("labels").resources.labels == {"team": "research", "project": "llm-pretrain", "cost-center": "4711"}
    assert load("image-id-str").resources.image_id == "docker:nvcr.io/nvidia/pytorch:24.05-py3"
    assert load("image-id-per-region").resources.image_id == {
        "us-east-1": "ami-0729d913a335efca7",
        "us-west-2": "ami-050814f384259894c",
    }
    disk = load("disk-network").resources
    assert (disk.disk_size, disk.disk_tier, disk.network_tier) == (2048, "high", "best")


def test_accelerator_args_are_kept() -> None:
    resources = load("legacy-cloud-region-zone").resources
    assert resources.accelerators == (Accelerator("tpu-v5litepod-8", 1),)
    assert resources.accelerator_args == {"runtime_version": "v2-alpha-tpuv5-lite", "tpu_vm": True}


# -- task-level fields ------------------------------------------------------------


def test_file_mount_forms() -> None:
    objects = load("file-mounts-object").file_mounts
    assert objects["/checkpoints"] == FileMount(name="my-ckpt-bucket", store="s3", mode="MOUNT", persistent=True)
    # Store and mode are case-normalised.
    assert objects["/cache"] == FileMount(name="scratch-cache", store="gcs", mode="MOUNT_CACHED", persistent=False)
    assert objects["/inputs"] == FileMount(source="./local-inputs", mode="COPY")
    assert objects["/shared"].is_remote and not objects["/inputs"].is_remote
    urls = load("file-mounts-cloud-urls").file_mounts
    assert all(m.is_remote for m in urls.values()), urls
    plain = load("file-mounts-plain").file_mounts
    assert plain["~/.netrc"] == FileMount(source="~/.netrc")
    assert not any(m.is_remote for m in plain.values())


def test_workdir_forms_and_volumes() -> None:
    assert load("workdir-string").workdir == "~/src/my-project"
    assert load("workdir-git").workdir == {"url": "https://github.com/example-org/trainer.git", "ref": "v1.2.0"}
    assert load("volumes").volumes == {"/mnt/data": "training-pvc", "/mnt/cache": "hf-cache"}


def test_num_nodes_inputs_outputs_config() -> None:
    assert load("num-nodes").num_nodes == 4
    assert load("hello-cpu").num_nodes == 1
    data = load("inputs-outputs")
    assert data.inputs == {"s3://raw-data/2024/": 500}
    assert data.egress_gb == pytest.approx(120.5)
    assert load("config-override").config["aws"] == {"use_internal_ips": True}


def test_service_fixed_replicas() -> None:
    service = load("service-simple").service
    assert service is not None
    assert (service.readiness_path, service.min_replicas, service.max_replicas) == ("/health", 2, None)
    assert service.to_dict() == {"readiness_probe": "/health", "replicas": 2}


def test_service_autoscaling_with_tls() -> None:
    service = load("service-autoscale").service
    assert service is not None
    assert service.readiness_path == "/v1/models"
    assert (service.initial_delay_seconds, service.readiness_timeout_seconds) == (600, 30)
    assert service.readiness_headers == {"Authorization": "Bearer dummy-token"}
    assert (service.min_replicas, service.max_replicas, service.target_qps_per_replica) == (1, 8, 2.5)
    assert (service.upscale_delay_seconds, service.downscale_delay_seconds) == (60, 600)
    assert service.load_balancing_policy == "least_load"
    assert service.port == 8000
    assert (service.tls_keyfile, service.tls_certfile) == ("~/certs/server.key", "~/certs/server.crt")


def test_service_post_probe_and_fallback() -> None:
    service = load("service-post-probe").service
    assert service is not None
    assert service.post_data["max_tokens"] == 1
    assert service.readiness_timeout_seconds == 15  # SkyServe's default
    assert (service.base_ondemand_fallback_replicas, service.dynamic_ondemand_fallback) == (1, True)


def test_service_spot_hedge_names_in_any_case_and_seconds_as_numbers() -> None:
    service = load("service-spot-hedge").service
    assert service is not None
    assert (service.spot_placer, service.load_balancing_policy) == ("dynamic_fallback", "instance_aware_least_load")
    assert (service.initial_delay_seconds, service.upscale_delay_seconds) == (90.5, 30.5)
    assert (service.num_overprovision, service.dynamic_ondemand_fallback) == (1, True)
    assert service.to_dict()["replica_policy"]["spot_placer"] == "dynamic_fallback"
    zero = load("service-scale-to-zero").service
    assert zero is not None and (zero.min_replicas, zero.max_replicas) == (0, 2)
    assert zero.post_data == {"prompt": "ping", "max_tokens": 1}  # a JSON string is decoded, as SkyServe does
    with pytest.raises(SpecError, match="unknown spot placer"):
        ServiceSpec.from_dict({"replica_policy": {"min_replicas": 1, "spot_placer": "cheapest"}})


# -- pipelines ---------------------------------------------------------------------


def test_pipeline_with_header() -> None:
    pipeline = Pipeline.from_yaml(VALID_DIR / "pipeline-two-stage.yaml")
    assert pipeline.name == "train-then-eval"
    assert [t.name for t in pipeline.tasks] == ["train", "eval"]
    assert pipeline.edges == ((0, 1),)
    assert pipeline.tasks[0].egress_gb == 200


def test_pipeline_three_stages_keep_their_own_fields() -> None:
    pipeline = Pipeline.from_yaml(VALID_DIR / "pipeline-three-stage.yaml")
    etl, train, evaluate = pipeline.tasks
    assert etl.file_mounts["/raw"].source == "s3://corpora/c4"
    assert train.num_nodes == 2 and etl.num_nodes == 1
    assert accelerator_tiers(train.resources) == [["H100:8", "H200:8"]]
    assert accelerator_tiers(evaluate.resources) == [["L4:1"], ["A10G:1"]]
    assert pipeline.edges == ((0, 1), (1, 2))


def test_pipeline_without_header_and_task_loader_refuses_pipelines() -> None:
    path = VALID_DIR / "pipeline-no-header.yaml"
    pipeline = Pipeline.from_yaml(path)
    assert pipeline.name is None
    assert [t.name for t in pipeline.tasks] == ["download", "process"]
    with pytest.raises(SpecError, match="pipeline of 2 tasks"):
        Task.from_yaml(path)


def test_pipeline_header_with_null_name_is_unnamed() -> None:
    pipeline = Pipeline.from_yaml_str("name:\n---\nrun: a\n---\nrun: b\n")
    assert pipeline.name is None
    assert len(pipeline.tasks) == 2


def test_single_task_file_is_a_one_task_pipeline() -> None:
    pipeline = Pipeline.from_yaml(VALID_DIR / "hello-cpu.yaml")
    assert pipeline.name is None and pipeline.edges == ()
    assert pipeline.tasks == (load("hello-cpu"),)


def test_env_overrides_reach_every_pipeline_task() -> None:
    pipeline = Pipeline.from_yaml(VALID_DIR / "pipeline-three-stage.yaml", env_overrides={"DATASET": "pile"})
    assert pipeline.tasks[0].file_mounts["/raw"].source == "s3://corpora/pile"
    assert pipeline.tasks[1].envs == {"DATASET": "pile"}


def test_job_recovery_exit_codes_and_deadline_fields() -> None:
    """SkyPilot's `recover_on_exit_codes` (one code or a list) and skyhop's deadline strategy round-trip."""
    one = Resources.from_dict({"job_recovery": {"max_restarts_on_errors": 2, "recover_on_exit_codes": 33}}).job_recovery
    assert one == JobRecovery(None, 2, (33,))
    many = Resources.from_dict({"job_recovery": {"strategy": "FAILOVER", "recover_on_exit_codes": [34, 33, 34]}}).job_recovery
    assert many == JobRecovery("FAILOVER", 0, (33, 34))
    deadline = Resources.from_dict({"job_recovery": {"strategy": "uniform_progress", "deadline": "36h", "runtime": "24h"}})
    assert deadline.job_recovery == JobRecovery("UNIFORM_PROGRESS", deadline_seconds=36 * 3600, runtime_seconds=24 * 3600, changeover_seconds=720)
    for resources in (Resources(job_recovery=one), Resources(job_recovery=many), deadline):
        assert Resources.from_dict(resources.to_dict()) == resources


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        ({"recover_on_exit_codes": [300]}, "recover_on_exit_codes[0]", "too large"),
        ({"recover_on_exit_codes": True}, "recover_on_exit_codes", "wrong type"),
        ({"strategy": "UNIFORM_PROGRESS", "deadline": "36h"}, "runtime", "needs 'deadline' and 'runtime'"),
        ({"strategy": "UNIFORM_PROGRESS", "deadline": "0s", "runtime": "1h"}, "deadline", "must be positive"),
        ({"strategy": "UNIFORM_PROGRESS", "deadline": "24h", "runtime": "24h"}, "deadline", "cannot be met"),
        ({"strategy": "UNIFORM_PROGRESS", "deadline": "soon", "runtime": "1h"}, "deadline", "not a duration"),
        ({"deadline": "3h"}, "", "belong to a deadline strategy"),
    ],
)
def test_job_recovery_refusals_name_the_field(raw: dict, field: str, words: str) -> None:
    with pytest.raises(SpecError) as caught:
        Resources.from_dict({"job_recovery": raw})
    assert caught.value.path == "resources.job_recovery" + (f".{field}" if field else "")
    assert words in str(caught.value)
