"""Every file in corpus/valid parses, round-trips, and together they use every field.

The corpus is written as a SkyPilot user would write task files; the
coverage test below fails if a field or a spelling of a field is dropped
from it, so the round-trip test keeps exercising the whole schema.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import pytest

from skyhop.spec.pipeline import Pipeline
from skyhop.spec.resources import RESOURCE_KEYS, Resources
from skyhop.spec.task import TASK_KEYS, Task
from skyhop.spec.yaml_io import dump_yaml, load_documents

VALID_DIR = Path(__file__).parent / "corpus" / "valid"
VALID_FILES = sorted(VALID_DIR.glob("*.yaml"))


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def test_corpus_is_large_enough() -> None:
    assert len(VALID_FILES) >= 45, [p.name for p in VALID_FILES]


def _assert_round_trips(task: Task) -> None:
    data = task.to_dict(redact_secrets=False)
    again = Task.from_dict(data)
    assert again == task
    # Dumping is stable: the re-parsed task dumps to the same mapping.
    assert again.to_dict(redact_secrets=False) == data
    # And the dump survives real YAML text.
    assert Task.from_yaml_str(dump_yaml(data)) == task
    assert Task.from_yaml_str(task.to_yaml(redact_secrets=False)) == task


def _assert_concrete_expansion(resources: Resources) -> None:
    tiers = resources.expand()
    assert tiers and all(tiers), tiers
    for tier in tiers:
        for request in tier:
            assert len(request.accelerators) <= 1
            assert request.any_of == () and request.ordered == ()


@pytest.mark.parametrize("path", VALID_FILES, ids=_ids(VALID_FILES))
def test_valid_file_parses_and_round_trips(path: Path) -> None:
    pipeline = Pipeline.from_yaml(path)
    assert pipeline.tasks
    for task in pipeline.tasks:
        _assert_round_trips(task)
        _assert_concrete_expansion(task.resources)
    documents = [d for d in load_documents(path.read_text()) if d is not None]
    is_multi_doc = len(documents) > 1
    if is_multi_doc:
        assert pipeline.is_chain
        # The whole pipeline round-trips through multi-document YAML text too.
        header = dump_yaml({"name": pipeline.name}) + "---\n" if pipeline.name is not None else ""
        text = header + "---\n".join(t.to_yaml(redact_secrets=False) for t in pipeline.tasks)
        assert Pipeline.from_yaml_str(text) == pipeline
    else:
        # A one-task file loads the same way through Task.from_yaml.
        assert Task.from_yaml(path) == pipeline.tasks[0]
        assert Task.from_yaml(str(path)) == pipeline.tasks[0]


# -- coverage of the schema --------------------------------------------------

_INFRA_FORMS = {
    "k8s/ctx": re.compile(r"^(k8s|kubernetes)/.+"),
    "ssh/pool": re.compile(r"^ssh/.+"),
    "cloud/*/zone": re.compile(r"^[a-z]+/\*/[^/]+$"),
    "*/region": re.compile(r"^\*/[^/*]+$"),
    "cloud": re.compile(r"^[a-z0-9]+$"),
    "cloud/region": re.compile(r"^(?!k8s|kubernetes|ssh)[a-z]+/[^/*]+$"),
    "cloud/region/zone": re.compile(r"^[a-z]+/[^/*]+/[^/]+$"),
}


def _resource_mappings(resources: Any) -> Iterator[dict[str, Any]]:
    if isinstance(resources, dict):
        yield resources
        for key in ("any_of", "ordered"):
            for entry in resources.get(key) or []:
                yield from _resource_mappings(entry)


def _accelerator_forms(raw: Any) -> set[str]:
    forms = set()
    if isinstance(raw, str):
        forms.add("'name:count'" if ":" in raw else "'name'")
        if re.search(r":0?\.\d+$", raw):
            forms.add("fractional")
    elif isinstance(raw, dict):
        if len(raw) == 1:
            forms.add("{name: count}")
        elif all(v is None for v in raw.values()):
            forms.add("flow set {a:n, b:n}")
        else:
            forms.add("{a: n, b: n}")
        forms.update("fractional" for k in raw if isinstance(k, str) and re.search(r":0?\.\d+$", k))
    elif isinstance(raw, list):
        forms.add("list of dicts" if all(isinstance(i, dict) for i in raw) else "list of strings")
    return forms


def _features(path: Path) -> set[str]:
    """What a corpus file exercises, named as the coverage test expects."""
    docs = [d for d in load_documents(path.read_text()) if d is not None]
    found: set[str] = set()
    if len(docs) > 1:
        found.add("pipeline")
        if set(docs[0]) == {"name"}:
            found.add("pipeline with name-only header")
    for doc in docs:
        found.update(f"task.{k}" for k in doc)
        workdir = doc.get("workdir")
        if workdir is not None:
            found.add("workdir:git" if isinstance(workdir, dict) else "workdir:str")
            if "${" in str(workdir):
                found.add("substitution:workdir")
        for _name, value in (doc.get("envs") or {}).items():
            found.add("envs:null" if value is None else "envs:value")
        for _name, value in (doc.get("secrets") or {}).items():
            found.add("secrets:null" if value is None else "secrets:value")
        for dst, src in (doc.get("file_mounts") or {}).items():
            if "${" in f"{dst}{src}":
                found.add("substitution:file_mounts")
            if re.search(r"\$[A-Za-z_]", f"{dst}{src}"):
                found.add("substitution:$VAR")
            if isinstance(src, str):
                found.add("file_mounts:url" if "://" in src else "file_mounts:local")
            else:
                found.update(f"file_mounts.object.{k}" for k in src)
                if isinstance(src.get("source"), list):
                    found.add("file_mounts:source-list")
                if src.get("mode") == "MOUNT" and src.get("name") in ("", "${BUCKET_NAME}"):
                    found.add("file_mounts:mount-empty-name")
                for key in ("name", "store", "source"):
                    if "$" in str(src.get(key, "")):
                        found.add(f"substitution:file_mounts.{key}")
        for value in (doc.get("volumes") or {}).values():
            if isinstance(value, str):
                found.add("volumes:name")
            else:
                found.add("volumes:sub_path" if "sub_path" in value else "volumes:inline-new" if "size" in value else "volumes:mapping")
        found.update(f"pool.{k}" for k in doc.get("pool") or {})
        service = doc.get("service")
        if isinstance(service, dict):
            found.update(f"service.{k}" for k in service)
            probe = service.get("readiness_probe")
            found.add("readiness_probe:str" if isinstance(probe, str) else "readiness_probe:dict")
            if isinstance(probe, dict):
                found.update(f"readiness_probe.{k}" for k in probe)
            policy = service.get("replica_policy") or {}
            found.update(f"replica_policy.{k}" for k in policy)
            if "max_replicas" in policy and policy["max_replicas"] == policy["min_replicas"] and "target_qps_per_replica" not in policy:
                found.add("replica_policy:fixed-size")
            if isinstance(policy.get("target_qps_per_replica"), dict):
                found.add("target_qps_per_replica:per-accelerator")
        for resources in _resource_mappings(doc.get("resources")):
            found.update(f"resources.{k}" for k in resources)
            infra = resources.get("infra")
            if infra is not None:
                found.update(f"infra:{form}" for form, pattern in _INFRA_FORMS.items() if pattern.match(infra))
            for key in ("accelerators", "gpus"):
                if key in resources:
                    found.update(f"accelerators:{form}" for form in _accelerator_forms(resources[key]))
            for key in ("cpus", "memory"):
                if key in resources:
                    found.add(f"{key}:at-least" if str(resources[key]).endswith("+") else f"{key}:number")
            ports = resources.get("ports")
            if ports is not None:
                found.add("ports:list" if isinstance(ports, list) else f"ports:{type(ports).__name__}")
            if isinstance(resources.get("disk_size"), str):
                found.add("disk_size:with-unit")
            if "image_id" in resources:
                found.add(f"image_id:{type(resources['image_id']).__name__}")
            if "autostop" in resources:
                found.add(f"autostop:{type(resources['autostop']).__name__}")
            if "job_recovery" in resources:
                found.add(f"job_recovery:{type(resources['job_recovery']).__name__}")
    return found


REQUIRED_FEATURES = (
    {f"task.{k}" for k in TASK_KEYS}
    | {f"resources.{k}" for k in RESOURCE_KEYS}
    | {"pipeline", "pipeline with name-only header", "workdir:str", "workdir:git"}
    | {f"infra:{form}" for form in _INFRA_FORMS}
    | {
        "accelerators:'name:count'", "accelerators:'name'", "accelerators:{name: count}",
        "accelerators:flow set {a:n, b:n}", "accelerators:{a: n, b: n}", "accelerators:list of strings",
        "accelerators:list of dicts", "accelerators:fractional",
    }
    | {"cpus:number", "cpus:at-least", "memory:number", "memory:at-least"}
    | {"ports:int", "ports:str", "ports:list", "image_id:str", "image_id:dict"}
    | {"autostop:bool", "autostop:int", "autostop:str", "autostop:dict", "job_recovery:str", "job_recovery:dict"}
    | {"envs:null", "envs:value", "secrets:null", "secrets:value"}
    | {"file_mounts:local", "file_mounts:url"}
    | {f"file_mounts.object.{k}" for k in ("source", "name", "store", "mode", "persistent")}
    | {"substitution:workdir", "substitution:file_mounts", "substitution:$VAR"}
    | {f"substitution:file_mounts.{k}" for k in ("name", "store", "source")}
    | {"file_mounts:source-list", "file_mounts:mount-empty-name", "disk_size:with-unit"}
    | {"volumes:name", "volumes:sub_path", "volumes:inline-new"}
    | {f"pool.{k}" for k in ("workers", "min_workers", "max_workers", "queue_length_threshold", "upscale_delay_seconds", "downscale_delay_seconds")}
    | {"replica_policy:fixed-size", "target_qps_per_replica:per-accelerator"}
    | {f"service.{k}" for k in ("readiness_probe", "replicas", "replica_policy", "load_balancing_policy", "ports", "tls")}
    | {"readiness_probe:str", "readiness_probe:dict"}
    | {f"readiness_probe.{k}" for k in ("path", "post_data", "initial_delay_seconds", "timeout_seconds", "headers")}
    | {
        f"replica_policy.{k}"
        for k in (
            "min_replicas", "max_replicas", "target_qps_per_replica", "upscale_delay_seconds",
            "downscale_delay_seconds", "base_ondemand_fallback_replicas", "dynamic_ondemand_fallback",
            "num_overprovision", "spot_placer",
        )
    }
)


def test_corpus_covers_every_field_and_spelling() -> None:
    found: set[str] = set()
    for path in VALID_FILES:
        found |= _features(path)
    missing = sorted(REQUIRED_FEATURES - found)
    assert not missing, f"no valid corpus file uses: {missing}"
