"""Property tests: any valid task dict survives load -> dump -> load, also as YAML text.

The strategies build task dicts the way users write them: every spelling of
every field (accelerators as strings, dicts, flow sets and lists; infra and
the legacy cloud/region/zone; any_of/ordered; service sections; mounts).
"""

from __future__ import annotations

import json
import string
from typing import Any

from helpers import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skyhop.spec.accelerators import accelerator_key, canonical_accelerator
from skyhop.spec.pipeline import Pipeline
from skyhop.spec.resources import Resources
from skyhop.spec.task import REDACTED, Task
from skyhop.spec.yaml_io import dump_yaml

SETTINGS = settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- building blocks -------------------------------------------------------------

NAMES = st.text(string.ascii_lowercase + string.digits + "-", min_size=1, max_size=12).filter(lambda s: s[0] != "-")
# Free text (commands, env values): printable, some non-ASCII, newlines; no `$` so
# env values never hold a `${VAR}` of their own (substitution is single-pass).
FREE_TEXT = st.text(
    st.characters(codec="utf-8", categories=("L", "N", "P", "Zs"), exclude_characters="$") | st.sampled_from("\n\t#:{}[]'\"-"),
    max_size=30,
)
ENV_NAMES = st.builds(
    lambda head, tail: head + tail,
    st.sampled_from(string.ascii_letters + "_"),
    st.text(string.ascii_letters + string.digits + "_", max_size=10),
)

ACCEL_NAMES = st.sampled_from(
    ["H100", "h100-sxm", "H100-PCIe", "A100", "A100-80GB", "a100_80g_sxm4", "H200", "L4", "L40S", "T4",
     "RTX4090", "A6000", "MI300X", "tpu-v5litepod-8", "Gaudi2"]
)
WHOLE_COUNTS = st.sampled_from([1, 2, 4, 8, 16])
COUNTS = WHOLE_COUNTS | st.sampled_from([0.25, 0.5])


def _unique_accels(min_size: int) -> st.SearchStrategy[list[tuple[str, float]]]:
    # Raw names unique (dict keys) and no two equal after canonicalisation.
    return st.lists(
        st.tuples(ACCEL_NAMES, COUNTS),
        min_size=min_size,
        max_size=4,
        unique_by=(lambda a: a[0], lambda a: (accelerator_key(a[0]), float(a[1]))),
    )


@st.composite
def accelerators(draw: st.DrawFn) -> Any:
    form = draw(st.sampled_from(["str", "bare", "dict1", "dict", "flowset", "list", "listdict"]))
    if form == "str":
        name, count = draw(st.tuples(ACCEL_NAMES, COUNTS))
        return f"{name}:{count}"
    if form == "bare":
        return draw(ACCEL_NAMES)
    if form == "dict1":
        name, count = draw(st.tuples(ACCEL_NAMES, COUNTS))
        return {name: count}
    if form == "dict":
        return {name: count for name, count in draw(_unique_accels(2))}
    items = draw(
        st.lists(
            st.tuples(ACCEL_NAMES, COUNTS),
            min_size=2,
            max_size=4,
            unique_by=lambda a: (accelerator_key(a[0]), float(a[1])),
        )
    )
    if form == "flowset":  # {H100:8, A100:8} in YAML: keys with null values
        return {f"{name}:{count}": None for name, count in items}
    if form == "list":
        return [f"{name}:{count}" for name, count in items]
    return [{name: count} for name, count in items]


INFRA_TEXT = st.sampled_from(
    ["aws", "aws/us-east-1", "aws/us-west-2/us-west-2b", "gcp/*/us-central1-a", "gcp/us-central1", "k8s",
     "k8s/my-ctx", "kubernetes/gke_proj_zone_name", "ssh/my-pool", "lambda", "*/us-east-1", "*", "azure/eastus",
     "runpod/US", "AWS/us-east-1"]
)


@st.composite
def legacy_placement(draw: st.DrawFn) -> dict[str, Any]:
    cloud = draw(st.sampled_from(["aws", "gcp", "azure", "lambda", "Nebius"]))
    out: dict[str, Any] = {"cloud": cloud}
    if draw(st.booleans()):
        out["region"] = draw(st.sampled_from(["us-east-1", "us-central1", "eu-north1"]))
        if draw(st.booleans()):
            out["zone"] = out["region"] + draw(st.sampled_from(["a", "b", "-c"]))
    return out


QUANTITY = st.integers(1, 512) | st.sampled_from([0.5, 1.5, 2.25]) | st.builds(lambda n: f"{n}+", st.integers(1, 512))
PORT = st.integers(1, 65535)
PORTS = (
    PORT
    | st.builds(lambda a, b: f"{min(a, b)}-{max(a, b)}", PORT, PORT)
    | st.lists(PORT | st.builds(lambda a, w: f"{a}-{min(a + w, 65535)}", PORT, st.integers(0, 50)), max_size=4)
)
AUTOSTOP = (
    st.booleans()
    | st.integers(0, 10_000)
    | st.builds(lambda n, u: f"{n}{u}", st.integers(0, 100), st.sampled_from(["", "m", "h", "d", "H"]))
    | st.fixed_dictionaries({}, optional={"idle_minutes": st.integers(0, 600), "down": st.booleans()})
)
STRATEGY = st.sampled_from(["FAILOVER", "EAGER_NEXT_REGION", "failover", "eager_next_region"])
RECOVERY = STRATEGY | st.fixed_dictionaries(
    {}, optional={"strategy": STRATEGY, "max_restarts_on_errors": st.integers(0, 10)}
)
SCALARS = st.none() | st.booleans() | st.integers(-5, 5) | NAMES


def _resource_fields() -> dict[str, st.SearchStrategy[Any]]:
    fields: dict[str, st.SearchStrategy[Any]] = {
        "accelerators": accelerators(),
        "accelerator_args": st.dictionaries(NAMES, SCALARS, max_size=3),
        "instance_type": st.sampled_from(["p5.48xlarge", "n2-standard-8", "gpu_8x_h100_sxm5", "Standard_ND96isr_H100_v5"]),
        "cpus": QUANTITY,
        "memory": QUANTITY,
        "use_spot": st.booleans(),
        "disk_size": st.integers(1, 10_000)
        | st.builds(lambda n, unit: f"{n}{unit}", st.integers(1, 4096), st.sampled_from(["GB", "gb", "G", "Gi", "TB", "T", "ti"])),
        "disk_tier": st.sampled_from(["low", "medium", "high", "ultra", "best", "HIGH"]),
        "network_tier": st.sampled_from(["standard", "best"]),
        "ports": PORTS,
        "labels": st.dictionaries(NAMES, NAMES | st.integers(0, 10_000), max_size=3),
        "image_id": NAMES | st.dictionaries(st.sampled_from(["us-east-1", "us-west-2", "eu-west-1"]), NAMES, max_size=3),
        "max_hourly_cost": st.floats(0.01, 1000, allow_nan=False, allow_infinity=False) | st.integers(1, 100),
        "autostop": AUTOSTOP,
    }
    return fields


@st.composite
def resources_dicts(draw: st.DrawFn, nested: bool = False) -> dict[str, Any]:
    optional = _resource_fields()
    data = draw(st.fixed_dictionaries({}, optional=optional))
    if "accelerators" in data and draw(st.booleans()):
        data["gpus"] = data.pop("accelerators")
    placement = draw(st.sampled_from(["none", "infra", "legacy"]))
    if placement == "infra":
        data["infra"] = draw(INFRA_TEXT)
    elif placement == "legacy":
        data.update(draw(legacy_placement()))
    recovery = draw(st.sampled_from([None, "job_recovery", "spot_recovery"]))
    if recovery:
        data[recovery] = draw(RECOVERY)
    if not nested:
        alternatives = draw(st.sampled_from([None, "any_of", "ordered"]))
        if alternatives:
            data[alternatives] = draw(st.lists(resources_dicts(nested=True), min_size=1, max_size=3))
    return data


@st.composite
def file_mount_values(draw: st.DrawFn, env_names: list[str]) -> Any:
    ref = st.sampled_from(env_names).flatmap(lambda n: st.sampled_from(["${" + n + "}", "$" + n])) if env_names else st.just("")
    source = st.builds(
        lambda scheme, a, b: f"{scheme}{a}{b}",
        st.sampled_from(["", "./", "~/", "s3://", "gs://", "r2://", "https://example.com/"]),
        NAMES,
        ref | st.just("") | st.just("${UNSET_VAR}"),
    )
    if draw(st.booleans()):
        return draw(source)
    mount = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "source": source | st.lists(st.builds(lambda a, r: f"./{a}{r}", NAMES, ref), min_size=1, max_size=3),
                "name": NAMES | st.just("") | ref,
                "store": st.sampled_from(["s3", "gcs", "azure", "r2", "ibm", "oci", "nebius", "S3"]),
                "mode": st.sampled_from(["MOUNT", "COPY", "MOUNT_CACHED", "mount"]),
                "persistent": st.booleans(),
            },
        )
    )
    if "source" not in mount and "name" not in mount:
        mount["name"] = draw(NAMES)
    return mount


PATH_TEXT = st.builds(lambda a, b: f"/{a}/{b}", NAMES, NAMES)
VOLUME_MAPPINGS = st.fixed_dictionaries({"name": NAMES}, optional={"sub_path": st.builds(lambda a, b: f"{a}/{b}", NAMES, NAMES)}) | st.fixed_dictionaries(
    {"size": st.sampled_from(["1Gi", "10Gi", "100GB", "1TB"])},
    optional={"labels": st.dictionaries(NAMES, NAMES, max_size=2), "type": st.just("k8s-pvc")},
)


@st.composite
def service_dicts(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if draw(st.booleans()):
        if draw(st.booleans()):
            data["readiness_probe"] = draw(PATH_TEXT)
        else:
            data["readiness_probe"] = draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "path": PATH_TEXT,
                        "post_data": st.dictionaries(NAMES, SCALARS, max_size=2) | st.dictionaries(NAMES, SCALARS, max_size=2).map(json.dumps),
                        "initial_delay_seconds": st.integers(0, 3600) | st.sampled_from([0.5, 90.25]),
                        "timeout_seconds": st.integers(1, 120) | st.just(2.5),
                        "headers": st.dictionaries(NAMES, NAMES | st.integers(0, 9), max_size=2),
                    },
                )
            )
    scaling = draw(st.sampled_from(["none", "replicas", "fixed_policy", "autoscale"]))
    if scaling == "replicas":
        data["replicas"] = draw(st.integers(0, 10))
    elif scaling != "none":
        low = draw(st.integers(0, 5))
        policy: dict[str, Any] = {"min_replicas": low}
        if scaling == "autoscale":
            policy["max_replicas"] = draw(st.integers(max(low, 1), 20))
            policy["target_qps_per_replica"] = draw(
                st.sampled_from([0.5, 1, 2.5, 10])
                | st.dictionaries(st.sampled_from(["H100", "A100:1", "L4", "T4:2"]), st.sampled_from([0.5, 1, 7]), min_size=1, max_size=3)
            )
        elif low >= 1 and draw(st.booleans()):
            policy["max_replicas"] = low  # fixed size: no QPS target needed (max_replicas is at least 1)
        policy.update(
            draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "upscale_delay_seconds": st.integers(0, 1000) | st.just(30.5),
                        "downscale_delay_seconds": st.integers(0, 5000),
                        "base_ondemand_fallback_replicas": st.integers(0, 3),
                        "dynamic_ondemand_fallback": st.booleans(),
                        "num_overprovision": st.integers(0, 3),
                        "spot_placer": st.just("dynamic_fallback"),
                    },
                )
            )
        )
        data["replica_policy"] = policy
    data.update(
        draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "load_balancing_policy": st.sampled_from(["round_robin", "least_load", "instance_aware_least_load"]),
                    "ports": PORT,
                    "tls": st.fixed_dictionaries({"keyfile": NAMES, "certfile": NAMES}),
                },
            )
        )
    )
    return data


@st.composite
def task_dicts(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(ENV_NAMES, max_size=6, unique=True))
    split = draw(st.integers(0, len(names)))
    env_value = st.none() | FREE_TEXT | st.integers(-10, 10_000) | st.booleans() | st.sampled_from([0.5, 1e-3])
    data: dict[str, Any] = {}
    if names[:split]:
        data["envs"] = {n: draw(env_value) for n in names[:split]}
    if names[split:]:
        data["secrets"] = {n: draw(st.none() | FREE_TEXT) for n in names[split:]}
    env_names = names[:split]
    ref = st.sampled_from(env_names).map(lambda n: "${" + n + "}") if env_names else st.just("${NOT_DECLARED}")
    optional: dict[str, st.SearchStrategy[Any]] = {
        "name": NAMES,
        "workdir": st.builds(lambda a, r: f"~/{a}/{r}", NAMES, ref)
        | st.fixed_dictionaries({"url": st.builds(lambda a: f"https://github.com/org/{a}.git", NAMES)}, optional={"ref": NAMES | ref}),
        "num_nodes": st.integers(1, 64),
        "resources": resources_dicts(),
        "file_mounts": st.dictionaries(
            st.builds(lambda a, r: f"/{a}{r}", NAMES, st.just("") | ref), file_mount_values(env_names), max_size=4
        ),
        "volumes": st.dictionaries(PATH_TEXT, NAMES | VOLUME_MAPPINGS, max_size=2),
        "pool": st.fixed_dictionaries({"workers": st.integers(0, 8)})
        | st.fixed_dictionaries({}, optional={"min_workers": st.integers(0, 2), "max_workers": st.integers(2, 8), "queue_length_threshold": st.integers(1, 9)}),
        "api_server_access": st.booleans(),
        "setup": FREE_TEXT,
        "run": FREE_TEXT,
        "service": service_dicts(),
        "inputs": st.dictionaries(st.builds(lambda a: f"s3://{a}/", NAMES), st.integers(0, 10_000) | st.sampled_from([0.5, 12.25]), max_size=2),
        "outputs": st.dictionaries(st.builds(lambda a: f"gs://{a}/", NAMES), st.integers(0, 10_000), max_size=2),
        "config": st.dictionaries(NAMES, st.dictionaries(NAMES, SCALARS, max_size=2), max_size=2),
    }
    data.update(draw(st.fixed_dictionaries({}, optional=optional)))
    return data


# -- properties --------------------------------------------------------------------


@SETTINGS
@given(task_dicts())
def test_task_round_trips_through_dicts_and_yaml_text(data: dict[str, Any]) -> None:
    task = Task.from_dict(data)
    dumped = task.to_dict(redact_secrets=False)
    again = Task.from_dict(dumped)
    assert again == task
    assert again.to_dict(redact_secrets=False) == dumped
    # The dump is plain YAML: written out and read back, it is the same task.
    assert Task.from_yaml_str(dump_yaml(dumped)) == task
    # The input dict itself, written as YAML by a user, loads to the same task.
    assert Task.from_yaml_str(dump_yaml(data)) == task
    # The default dump never shows a secret's value, only that it is set.
    redacted = task.to_dict()
    for name, value in task.secrets.items():
        assert redacted["secrets"][name] == (None if value is None else REDACTED)
    assert (redacted.get("secrets") or {}).keys() == task.secrets.keys()


@SETTINGS
@given(resources_dicts())
def test_resources_round_trip_and_expansion(data: dict[str, Any]) -> None:
    resources = Resources.from_dict(data)
    assert Resources.from_dict(resources.to_dict()) == resources
    tiers = resources.expand()
    assert tiers and all(tiers)
    alternatives = resources.any_of or resources.ordered or (resources,)
    expected = 0
    for entry in alternatives:
        merged = entry.merged_onto(resources)
        expected += max(1, len(merged.accelerators))
    assert sum(len(tier) for tier in tiers) == expected
    for tier in tiers:
        for request in tier:
            assert len(request.accelerators) <= 1
            assert not request.any_of and not request.ordered
            assert Resources.from_dict(request.to_dict()) == request


@settings(max_examples=40, deadline=None)
@given(st.lists(task_dicts(), min_size=2, max_size=3), st.none() | NAMES)
def test_pipeline_yaml_round_trip(docs: list[dict[str, Any]], name: str | None) -> None:
    tasks = [Task.from_dict(d) for d in docs]
    header = dump_yaml({"name": name}) + "---\n" if name else ""
    text = header + "---\n".join(dump_yaml(t.to_dict(redact_secrets=False)) for t in tasks)
    pipeline = Pipeline.from_yaml_str(text)
    if not name and set(tasks[0].to_dict()) == {"name"}:
        return  # a first task with only a name reads as a header, by design
    assert pipeline.tasks == tuple(tasks)
    assert pipeline.name == name
    assert pipeline.is_chain


@settings(max_examples=200, deadline=None)
@given(st.text(string.ascii_letters + string.digits + "-_ ", min_size=1, max_size=20).filter(str.strip))
def test_canonical_names_are_stable(name: str) -> None:
    canonical = canonical_accelerator(name)
    assert canonical_accelerator(canonical) == canonical
    assert accelerator_key(name.lower()) == accelerator_key(name.upper()) == accelerator_key(canonical)
