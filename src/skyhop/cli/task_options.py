"""Resource flags shared by every command that takes a task, and task loading."""

from __future__ import annotations

from typing import Any, Callable

import click

from skyhop.spec.errors import SpecError

# flag name -> resources field it sets
_FLAG_FIELDS = {
    "gpus": "accelerators",
    "cpus": "cpus",
    "memory": "memory",
    "infra": "infra",
    "use_spot": "use_spot",
    "instance_type": "instance_type",
    "image_id": "image_id",
    "disk_size": "disk_size",
    "disk_tier": "disk_tier",
    "ports": "ports",
}
# SkyPilot's legacy placement flags: `--cloud aws --region us-east-1` = `--infra aws/us-east-1`.
_LEGACY_PLACEMENT = ("cloud", "region", "zone")


def resource_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """`--gpus --cpus --memory --num-nodes --infra (--cloud --region --zone) --use-spot
    --instance-type --image-id --disk-size --disk-tier --ports --env --secret`."""
    options = [
        click.option("--gpus", help="Accelerators per node, e.g. H100:8 (overrides the task's)."),
        click.option("--cpus", help="vCPUs per node: 8 (exactly) or 8+ (at least)."),
        click.option("--memory", help="Memory per node in GB: 32 or 32+."),
        click.option("--num-nodes", type=int, help="Number of nodes."),
        click.option("--infra", help="Where to run: aws, aws/us-east-1, gcp/*/us-central1-a, k8s/ctx, ssh/pool."),
        click.option("--cloud", help="Legacy spelling of --infra CLOUD (combine with --region/--zone)."),
        click.option("--region", help="Legacy spelling of --infra CLOUD/REGION."),
        click.option("--zone", help="Legacy spelling of --infra CLOUD/REGION/ZONE."),
        click.option("--image-id", help="Machine or container image, e.g. docker:ubuntu:22.04 (overrides the task's)."),
        click.option("--disk-size", help="OS disk size per node: GB (256) or with a unit (1TB)."),
        click.option("--disk-tier", help="Disk tier: low, medium, high, ultra or best."),
        click.option("--ports", multiple=True, metavar="PORT[-PORT]", help="Ports to open on the nodes, e.g. 8080 or 9000-9010 (repeatable)."),
        click.option("--use-spot/--no-use-spot", default=None, help="Use spot (preemptible) machines."),
        click.option("--instance-type", help="An exact instance type, e.g. gpu_8x_h100_sxm5."),
        click.option(
            "--env", "envs", multiple=True, metavar="NAME[=VALUE]",
            help="Set or supply an env var (repeatable); NAME alone takes the value from your environment.",
        ),
        click.option(
            "--secret", "secrets", multiple=True, metavar="NAME[=VALUE]",
            help="Set or supply a secret (repeatable): never stored, logged or shown; NAME alone takes the value "
            "from your environment (keeps it out of `ps`).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def parse_env_flags(values: tuple[str, ...], flag: str = "--env") -> dict[str, str]:
    """`NAME=VALUE` pairs; a bare `NAME` takes its value from this process's environment, as SkyPilot does."""
    import os

    from skyhop.spec.fields import check_env_name

    out = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not name:
            raise SpecError(flag, "expects NAME=VALUE or NAME", **({} if flag == "--secret" else {"value": item}))  # a secret is never echoed
        check_env_name(name, flag)  # before the environment lookup: a bad name is the error to report
        if not sep:
            if name not in os.environ:
                raise SpecError(flag, f"{name} is not set in your environment", hint=f"Export it first, or give {flag} {name}=VALUE.")
            value = os.environ[name]
        out[name] = value
    return out


def resource_overrides(flags: dict[str, Any]) -> dict[str, Any]:
    """Validated overrides from flags; errors name the flag, not a YAML path."""
    from skyhop.spec.resources import Resources

    overrides = {}
    flags = dict(flags, infra=_infra_flag(flags), ports=list(flags.get("ports") or ()) or None)
    for flag, field in _FLAG_FIELDS.items():
        value = flags.get(flag)
        if value is None:
            continue
        try:
            Resources.from_dict({field: value})
        except SpecError as error:
            legacy = [f"--{n}" for n in _LEGACY_PLACEMENT if flag == "infra" and flags.get(n) is not None]
            label = "/".join(legacy) or f"--{flag.replace('_', '-')}"
            raise SpecError(label, error.detail, value=value, expected=error.expected, hint=error.hint) from None
        overrides[field] = value
    return overrides


def _infra_flag(flags: dict[str, Any]) -> str | None:
    """`--infra`, or the infra that `--cloud/--region/--zone` spell (unset parts are `*`)."""
    legacy: dict[str, str] = {name: flags[name] for name in _LEGACY_PLACEMENT if flags.get(name) is not None}
    if not legacy:
        return flags.get("infra")
    if flags.get("infra") is not None:
        raise SpecError("--infra", f"cannot be combined with --{', --'.join(legacy)}", hint="Use only --infra, e.g. --infra aws/us-east-1.")
    for name, value in legacy.items():
        if not value.strip() or "/" in value:
            raise SpecError(f"--{name}", "must be one name without '/'", value=value)
    parts = [legacy.get("cloud", "*"), legacy.get("region", "*"), legacy.get("zone")]
    text = "/".join(p for p in parts if p is not None)
    while text.endswith("/*"):
        text = text[:-2]
    return text


def load_pipeline(entrypoint: str | None, flags: dict[str, Any]):  # -> Pipeline
    """The task(s) from a YAML file (or none), with the flags applied to each."""
    from dataclasses import replace

    from skyhop.spec.pipeline import Pipeline
    from skyhop.spec.task import Task

    envs = parse_env_flags(flags.get("envs") or ())
    secrets = parse_env_flags(flags.get("secrets") or (), "--secret")
    if entrypoint:
        pipeline = Pipeline.from_yaml(entrypoint, env_overrides=envs)
    else:
        pipeline = Pipeline.chain([Task.from_dict({}, env_overrides=envs)])
    overrides = resource_overrides(flags)
    num_nodes = flags.get("num_nodes")
    if num_nodes is not None and num_nodes < 1:
        raise SpecError("--num-nodes", "must be at least 1", value=num_nodes)
    tasks = []
    for task in pipeline.tasks:
        if secrets:
            task = with_secrets(task, secrets)
        if overrides:
            task = replace(task, resources=task.resources.with_overrides(**overrides))
        if num_nodes is not None:
            task = replace(task, num_nodes=num_nodes)
        tasks.append(task)
    return replace(pipeline, tasks=tuple(tasks))


def with_secrets(task, secrets: dict[str, str]):  # -> Task
    """`--secret` values: secrets of the task whether or not it declares them (an env of that name becomes one)."""
    from dataclasses import replace

    envs = {k: v for k, v in task.envs.items() if k not in secrets}
    return replace(task, envs=envs, secrets={**task.secrets, **secrets})


#: A dotenv file is small; anything bigger (`/dev/zero`, a dataset given by mistake) is refused unread.
MAX_ENV_FILE = 1 << 20


def read_env_file(path: str) -> dict[str, str]:
    """`NAME=VALUE` lines (dotenv style: `#` comments, optional `export `, optional quotes).

    A line that does not parse is reported by its number only: env files hold
    secrets, and the line may be one.
    """
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_ENV_FILE + 1)
    except OSError as error:
        raise SpecError("--env-file", f"cannot read {path}: {error.strerror or error}") from None
    if len(data) > MAX_ENV_FILE:
        raise SpecError("--env-file", f"{path} is larger than {MAX_ENV_FILE // 1024} KiB; expected a small file of NAME=VALUE lines")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError("--env-file", f"{path} is not UTF-8 text") from None
    out = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise SpecError(f"--env-file {path}:{number}", "expects NAME=VALUE (the line is not shown: it may hold a secret)")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[name.strip()] = value
    return out

