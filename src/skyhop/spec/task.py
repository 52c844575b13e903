"""`Task`: one job as the user describes it (SkyPilot task YAML schema)."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from skyhop.spec.errors import SpecError, join_path
from skyhop.spec.fields import (
    as_bool,
    as_env_map,
    as_int,
    as_mapping,
    as_number,
    as_optional_str,
    as_str,
    check_env_name,
    check_keys,
    number_out,
)
from skyhop.spec.pool import PoolSpec
from skyhop.spec.resources import Resources
from skyhop.spec.service import ServiceSpec
from skyhop.spec.volumes import VolumeMount, dump_volume, parse_volume

TASK_KEYS = (
    "name", "workdir", "num_nodes", "resources", "envs", "secrets", "file_mounts", "volumes",
    "setup", "run", "service", "inputs", "outputs", "config", "pool", "api_server_access",
)
MOUNT_MODES = ("MOUNT", "COPY", "MOUNT_CACHED")
STORE_TYPES = ("s3", "gcs", "azure", "r2", "ibm", "oci", "nebius")
URL_SCHEMES = ("s3", "gs", "r2", "cos", "oci", "azure", "https", "http", "nebius")
REDACTED = "<redacted>"
# `${VAR}` and `$VAR`, the two spellings SkyPilot fills from `envs`.
_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
#: More nodes than any cluster skyhop could gang-schedule; bounds what a typo or a hostile request can ask.
MAX_NODES = 10_000
#: Linux refuses to start a process whose environment holds one `NAME=value` string over 32 pages
#: (MAX_ARG_STRLEN, counting the `=` and the final NUL) with E2BIG, "Argument list too long".
MAX_ENV_ENTRY_BYTES = 128 * 1024
#: All of a task's envs and secrets together. The kernel's cap on argv + environment is a quarter of the
#: stack limit (2 MiB by default), shared with skyhop's own variables and the node's environment.
MAX_ENV_TOTAL_BYTES = 1024 * 1024

_MOUNT_KEYS = ("source", "store", "mode", "name", "persistent")


@dataclass(frozen=True)
class FileMount:
    """A `file_mounts` entry: a local path or bucket URL, or a bucket to create.

    `sources` holds SkyPilot's list form (`source: [./a, ./b]`: several local
    paths uploaded into one bucket); `source` is then None. An empty `name`
    is accepted here and refused at launch, as SkyPilot does.
    """

    source: str | None = None
    store: str | None = None
    mode: str | None = None
    name: str | None = None
    persistent: bool | None = None
    sources: tuple[str, ...] = ()

    @classmethod
    def parse(cls, raw: Any, path: str) -> "FileMount":
        if isinstance(raw, str):
            if not raw.strip():
                raise SpecError(path, "empty source", expected="a local path or a bucket URL like s3://bucket/dir")
            return cls(source=raw)
        mapping = as_mapping(raw, path, "a source path/URL, or a mapping with source/name/store/mode")
        check_keys(mapping, _MOUNT_KEYS, path, "a file mount")
        p = lambda key: join_path(path, key)  # noqa: E731
        raw_source = mapping.get("source")
        sources: tuple[str, ...] = ()
        if isinstance(raw_source, list):
            if not raw_source:
                raise SpecError(p("source"), "is an empty list", expected="a path or URL, or a non-empty list of local paths")
            sources = tuple(as_str(item, join_path(p("source"), i)) for i, item in enumerate(raw_source))
            raw_source = None
        source = as_optional_str(raw_source, p("source"))
        name = as_optional_str(mapping.get("name"), p("name"))
        if source is None and name is None and not sources:
            raise SpecError(path, "needs 'source' or 'name'", expected="a mapping with a source path/URL or a bucket name")
        store = as_optional_str(mapping.get("store"), p("store"))
        if store is not None and store.lower() not in STORE_TYPES and not _VAR.fullmatch(store):
            raise SpecError(p("store"), "unknown store", value=store, expected=" or ".join(STORE_TYPES))
        mode = as_optional_str(mapping.get("mode"), p("mode"))
        if mode is not None and mode.upper() not in MOUNT_MODES:
            raise SpecError(p("mode"), "unknown mode", value=mode, expected=" or ".join(MOUNT_MODES))
        persistent = mapping.get("persistent")
        if persistent is not None and not isinstance(persistent, bool):
            raise SpecError(p("persistent"), "wrong type", value=persistent, expected="true or false")
        store = store if store is None or _VAR.fullmatch(store) else store.lower()  # `$STORE` waits for --env
        return cls(source, store, mode.upper() if mode else None, name, persistent, sources)

    @property
    def is_remote(self) -> bool:
        return self.source is not None and self.source.split("://", 1)[0] in URL_SCHEMES and "://" in self.source

    def dump(self) -> Any:
        if self.source is not None and (self.store, self.mode, self.name, self.persistent) == (None, None, None, None):
            return self.source
        out = {k: getattr(self, k) for k in _MOUNT_KEYS if getattr(self, k) is not None}
        if self.sources:
            out["source"] = list(self.sources)
        return out


def check_mount_destination(dest: str) -> str:
    """`dest` unless it is empty or, being relative to the home (`~/x`, `x`), climbs out of it with `..`.

    Such a destination would land outside the node: on the local provider,
    outside the cluster's directory, where `down` never removes it.
    """
    path = join_path("file_mounts", dest)
    if not isinstance(dest, str) or not dest.strip():
        raise SpecError(path, "the destination is empty or not a string", value=dest, expected="a path on the node, like /data or ~/data")
    if dest.startswith("/"):
        return dest
    relative = dest[2:] if dest.startswith("~/") else "" if dest == "~" else dest
    normal = posixpath.normpath(relative) if relative else "."
    if normal == ".." or normal.startswith("../"):
        raise SpecError(path, "climbs out of the home directory with '..'", expected="a path inside the home (~/data) or an absolute path (/data)")
    return dest


def _check_environment(envs: Mapping[str, Any], secrets: Mapping[str, Any]) -> None:
    """Names, value types and sizes of `envs` and `secrets`, checked where a task is made rather than on the node.

    The variables reach the job through its process environment, so a value
    the kernel cannot pass (see MAX_ENV_ENTRY_BYTES) would be accepted here and
    fail minutes later with E2BIG when the job starts; it is refused now, with
    the limit and what to do instead.
    """
    total = 0
    for kind, variables in (("envs", envs), ("secrets", secrets)):
        for name, value in variables.items():
            check_env_name(name, kind)
            path = join_path(kind, name)
            if value is not None and not isinstance(value, str):
                raise SpecError(path, "wrong type", value=value if kind == "envs" else ..., expected="a string (or None: to be given with --env)")
            if value is not None and "\0" in value:
                raise SpecError(path, "holds a NUL character, which no process environment can carry")
            size = len(name.encode()) + len((value or "").encode()) + 2  # NAME=value and its NUL
            total += size
            if size > MAX_ENV_ENTRY_BYTES:
                raise SpecError(
                    path, f"NAME=value is {size:,} bytes, over the {MAX_ENV_ENTRY_BYTES // 1024} KiB Linux allows one environment variable",
                    hint="A larger value would stop the job from starting (E2BIG, \"Argument list too long\"); put the data in a file (file_mounts) and pass its path.",
                )
    if total > MAX_ENV_TOTAL_BYTES:
        raise SpecError(
            "envs", f"envs and secrets together are {total:,} bytes, over skyhop's limit of {MAX_ENV_TOTAL_BYTES // 2**20} MiB",
            hint="The kernel caps a process's whole environment (2 MiB by default, shared with the node's own variables); put large data in files (file_mounts) and pass their paths.",
        )


def substitute(text: str | None, envs: Mapping[str, str | None]) -> str | None:
    """`${VAR}` or `$VAR` -> the env's value, as SkyPilot does in file_mounts and workdir.

    Unknown or unset variables are left as written so a later `--env` can
    still fill them and the user sees what was not substituted.
    """
    if text is None:
        return None

    def repl(match: re.Match[str]) -> str:
        value = envs.get(match.group(1) or match.group(2))
        return match.group(0) if value is None else value

    return _VAR.sub(repl, text)


def _substitute_all(raw: Any, envs: Mapping[str, str | None]) -> Any:
    """Every string in a file_mounts entry (source, name, store, list items)."""
    if isinstance(raw, str):
        return substitute(raw, envs)
    if isinstance(raw, list):
        return [_substitute_all(item, envs) for item in raw]
    if isinstance(raw, dict):
        return {key: _substitute_all(value, envs) for key, value in raw.items()}
    return raw


@dataclass(frozen=True)
class Task:
    """A job: what to run, on which resources, with which files."""

    name: str | None = None
    run: str | None = None
    setup: str | None = None
    workdir: str | Mapping[str, str] | None = None
    num_nodes: int = 1
    resources: Resources = field(default_factory=Resources)
    envs: Mapping[str, str | None] = field(default_factory=dict)
    secrets: Mapping[str, str | None] = field(default_factory=dict, repr=False)
    file_mounts: Mapping[str, FileMount] = field(default_factory=dict)
    volumes: Mapping[str, str | VolumeMount] = field(default_factory=dict)
    service: ServiceSpec | None = None
    pool: PoolSpec | None = None
    # The job may call the API server with the user's identity (SkyPilot's
    # `api_server_access: true`).
    api_server_access: bool = False
    inputs: Mapping[str, float] = field(default_factory=dict)
    outputs: Mapping[str, float] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.resources, dict):
            object.__setattr__(self, "resources", Resources.from_dict(self.resources))
        if isinstance(self.num_nodes, bool) or not isinstance(self.num_nodes, int) or not 1 <= self.num_nodes <= MAX_NODES:
            raise SpecError("num_nodes", f"must be a whole number from 1 to {MAX_NODES}", value=self.num_nodes)
        _check_environment(self.envs, self.secrets)  # every way of building a task, the SDK's and replace() included
        mounts = {check_mount_destination(k): v if isinstance(v, FileMount) else FileMount.parse(v, join_path("file_mounts", k)) for k, v in self.file_mounts.items()}
        object.__setattr__(self, "file_mounts", mounts)
        volumes = {k: v if isinstance(v, VolumeMount) else parse_volume(v, join_path("volumes", k)) for k, v in self.volumes.items()}
        object.__setattr__(self, "volumes", volumes)

    # -- loading -----------------------------------------------------------
    @classmethod
    def from_dict(
        cls,
        data: Any,
        env_overrides: Mapping[str, str] | None = None,
        secret_overrides: Mapping[str, str] | None = None,
    ) -> "Task":
        """Build a task from parsed YAML; overrides act like `--env`/`--secret`."""
        if data is None:
            data = {}
        mapping = as_mapping(data, "", "a mapping of task fields (name, resources, setup, run, ...)")
        check_keys(mapping, TASK_KEYS, "", "a task")
        envs = as_env_map(mapping.get("envs"), "envs", allow_null=True)
        secrets = as_env_map(mapping.get("secrets"), "secrets", allow_null=True)
        # Overrides are checked like the task's own names: the raw API does not go through the CLI.
        for name, value in as_env_map(env_overrides, "envs", allow_null=True).items():
            (secrets if name in secrets else envs)[name] = value  # `--env` may fill a declared secret
        secrets.update(as_env_map(secret_overrides, "secrets", allow_null=True))
        overlap = sorted(set(envs) & set(secrets))
        if overlap:
            raise SpecError(join_path("secrets", overlap[0]), "is also defined in envs", hint="A name must be either an env or a secret.")
        values: dict[str, Any] = {"envs": envs, "secrets": secrets}
        if mapping.get("name") is not None:
            values["name"] = as_str(mapping["name"], "name", allow_numbers=True)
        for key in ("setup", "run"):
            if mapping.get(key) is not None:
                values[key] = as_str(mapping[key], key, allow_numbers=True)
        values["workdir"] = _parse_workdir(mapping.get("workdir"), envs)
        if mapping.get("num_nodes") is not None:
            values["num_nodes"] = as_int(mapping["num_nodes"], "num_nodes", minimum=1)
        values["resources"] = Resources.from_dict(mapping.get("resources"))
        mounts = as_mapping(mapping.get("file_mounts") or {}, "file_mounts", "a mapping of destination: source")
        values["file_mounts"] = {
            substitute(as_str(dst, join_path("file_mounts", str(dst))), envs): FileMount.parse(_substitute_all(src, envs), join_path("file_mounts", str(dst)))
            for dst, src in mounts.items()
        }
        volumes = as_mapping(mapping.get("volumes") or {}, "volumes", "a mapping of mount path: volume name or volume mapping")
        values["volumes"] = {as_str(k, "volumes"): parse_volume(v, join_path("volumes", str(k))) for k, v in volumes.items()}
        if mapping.get("service") is not None:
            values["service"] = ServiceSpec.from_dict(mapping["service"])
        if mapping.get("pool") is not None:
            values["pool"] = PoolSpec.from_dict(mapping["pool"])
        if mapping.get("api_server_access") is not None:
            values["api_server_access"] = as_bool(mapping["api_server_access"], "api_server_access")
        for key in ("inputs", "outputs"):
            values[key] = _parse_data_sizes(mapping.get(key), key)
        if mapping.get("config") is not None:
            values["config"] = as_mapping(mapping["config"], "config", "a mapping of skyhop config overrides")
        return cls(**values)

    @classmethod
    def from_yaml_str(cls, text: str, env_overrides: Mapping[str, str] | None = None) -> "Task":
        from skyhop.spec.pipeline import Pipeline

        return Pipeline.from_yaml_str(text, env_overrides=env_overrides).single_task()

    @classmethod
    def from_yaml(cls, path: str | Path, env_overrides: Mapping[str, str] | None = None) -> "Task":
        from skyhop.spec.pipeline import Pipeline

        pipeline = Pipeline.from_yaml(path, env_overrides=env_overrides)
        try:
            return pipeline.single_task()
        except SpecError as error:
            raise error.with_source(str(path)) from None

    # -- checks ------------------------------------------------------------
    def missing_envs(self) -> list[str]:
        """Names declared with a null value that must be given with `--env`/`--secret`."""
        return sorted(k for k, v in {**self.envs, **self.secrets}.items() if v is None)

    def require_envs(self) -> None:
        missing = self.missing_envs()
        if missing:
            flags = " ".join(f"--env {name}=..." for name in missing)
            raise SpecError(
                join_path("secrets" if missing[0] in self.secrets else "envs", missing[0]),
                f"{'these variables have' if len(missing) > 1 else 'this variable has'} no value: {', '.join(missing)}",
                hint=f"Pass them on the command line: {flags}",
            )

    # -- dumping -----------------------------------------------------------
    def to_dict(self, *, redact_secrets: bool = True) -> dict[str, Any]:
        """The YAML form. Secrets are redacted unless asked otherwise, so a
        task printed or logged never shows them."""
        out: dict[str, Any] = {}
        if self.name is not None:
            out["name"] = self.name
        if self.workdir is not None:
            out["workdir"] = self.workdir if isinstance(self.workdir, str) else dict(self.workdir)
        if self.num_nodes != 1:
            out["num_nodes"] = self.num_nodes
        resources = self.resources.to_dict()
        if resources:
            out["resources"] = resources
        if self.envs:
            out["envs"] = dict(self.envs)
        if self.secrets:
            out["secrets"] = {k: (REDACTED if redact_secrets and v is not None else v) for k, v in self.secrets.items()}
        if self.file_mounts:
            out["file_mounts"] = {k: v.dump() for k, v in self.file_mounts.items()}
        if self.volumes:
            out["volumes"] = {k: dump_volume(v) for k, v in self.volumes.items()}
        if self.service is not None:
            out["service"] = self.service.to_dict()
        if self.pool is not None:
            out["pool"] = self.pool.to_dict()
        if self.api_server_access:
            out["api_server_access"] = True
        for key in ("inputs", "outputs"):
            sizes = getattr(self, key)
            if sizes:
                out[key] = {k: number_out(v) for k, v in sizes.items()}
        if self.config:
            out["config"] = dict(self.config)
        if self.setup is not None:
            out["setup"] = self.setup
        if self.run is not None:
            out["run"] = self.run
        return out

    def to_yaml(self, *, redact_secrets: bool = True) -> str:
        from skyhop.spec.yaml_io import dump_yaml

        return dump_yaml(self.to_dict(redact_secrets=redact_secrets))

    @property
    def egress_gb(self) -> float:
        """Data this task hands to the next pipeline stage."""
        return float(sum(self.outputs.values()))


def _parse_workdir(raw: Any, envs: Mapping[str, str | None]) -> str | dict[str, str] | None:
    if raw is None:
        return None
    if isinstance(raw, dict):
        check_keys(raw, ("url", "ref"), "workdir", "a git workdir")
        if "url" not in raw:
            raise SpecError("workdir.url", "is required", expected="a git URL")
        return {k: as_str(substitute(as_str(v, join_path("workdir", k)), envs), join_path("workdir", k)) for k, v in raw.items()}
    text = as_str(raw, "workdir")
    if not text.strip():
        raise SpecError("workdir", "is empty", expected="a local directory")
    return substitute(text, envs)


def _parse_data_sizes(raw: Any, path: str) -> dict[str, float]:
    if raw is None:
        return {}
    mapping = as_mapping(raw, path, "a mapping of location: size in GB, e.g. {s3://bucket/data: 100}")
    return {as_str(k, path): number_out(as_number(v, join_path(path, str(k)), minimum=0)) for k, v in mapping.items()}
