"""Turning a validated `POST /api/v1/requests` into a running request.

The task is parsed here, before a request exists, so a malformed task is a
400 naming the field rather than a request that fails later. What is stored
with the request never holds secret values (the task's `secrets`, whether
filled by `--secret` or by `--env` on a declared secret, and a raw API body's
`envs` overrides): those live only in memory, for the operation that needs
them. Plain `envs` values are part of the task and stored with it, as in
SkyPilot: a sensitive value belongs in `secrets` / `--secret`.
"""

from __future__ import annotations

from typing import Any

from skyhop.server import schemas
from skyhop.server.auth.principal import Principal
from skyhop.server.executor import Executor, Owner

REDACTED = "<redacted>"


def submit(executor: Executor, caller: Principal, payload: schemas.AnyRequest) -> str:
    """The request's id; it acts for `caller` (from the token: never a field of the body)."""
    from skyhop.server.services import clusters

    body = payload.body.model_dump()
    if isinstance(payload.body, schemas.TaskBody):
        from skyhop.spec.task import Task

        Task.from_dict(body["task"], env_overrides=body.get("envs") or None)  # raises a SpecError naming the field
    cluster = body.get("cluster")
    clusters.check_request(executor.store, caller, payload.name, cluster if isinstance(cluster, str) else None)
    owner = Owner(caller.user, caller.workspace)
    return executor.submit(payload.name, body, stored_body=redacted(body), cluster=cluster, owner=owner, request_id=payload.request_id)


def redacted(body: dict[str, Any]) -> dict[str, Any]:
    """What is stored with a request: the task without secret values, the body's `envs` overrides without values."""
    out = dict(body)
    task = out.get("task")
    if isinstance(task, dict) and isinstance(task.get("secrets"), dict):
        out["task"] = dict(task, secrets={k: REDACTED for k in task["secrets"]})
    if isinstance(out.get("envs"), dict):
        out["envs"] = {k: REDACTED for k in out["envs"]}
    return out


def withheld(stored: dict[str, Any]) -> list[str]:
    """What a stored body lacks to run again: the secrets and `--env` names whose values were redacted."""
    task = stored.get("task")
    secrets = task.get("secrets") if isinstance(task, dict) else None
    names = [f"secret {k}" for k, v in secrets.items() if v == REDACTED] if isinstance(secrets, dict) else []
    envs = stored.get("envs")
    return names + ([f"--env {k}" for k in envs] if isinstance(envs, dict) else [])
