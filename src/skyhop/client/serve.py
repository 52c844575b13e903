"""Services over HTTP: what `skyhop serve up|status|update|down|logs` call, and the SDK's `skyhop.serve_*`."""

from __future__ import annotations

import os
from typing import Any, Iterator

from skyhop.client import arguments, http
from skyhop.client.api import _byte_stream, _segment, _sent, _server, task_field, with_absolute_paths

#: `serve update` modes: replicas replaced one by one, or the new version brought up in full before the old goes.
MODES = ("rolling", "blue_green")


def _body_task(task) -> dict[str, Any]:
    """The task as sent: local paths absolute (the TLS key and certificate too: `~/certs/key.pem` as SkyServe
    writes them), secret values included (the server keeps them out of the store)."""
    from dataclasses import replace

    task = with_absolute_paths(arguments.task(task))
    spec = task.service
    if spec is not None and spec.tls_keyfile and spec.tls_certfile:
        absolute = lambda path: os.path.abspath(os.path.expanduser(path))  # noqa: E731
        task = replace(task, service=replace(spec, tls_keyfile=absolute(spec.tls_keyfile), tls_certfile=absolute(spec.tls_certfile)))
    return task.to_dict(redact_secrets=False)


def serve_up(task, service_name: str | None = None) -> dict[str, Any]:
    """Start a service from `task` (a `Task`, mapping or YAML path with a `service:` section).

    The name defaults to the task's, else one is made up. Returns `{name, endpoint, version}`;
    the endpoint is None until the load balancer is up (`serve_status` shows it then).
    """
    body = {"task": _body_task(task), "service_name": arguments.name(service_name, "service_name")}
    return _sent(lambda field: task_field(field, 1), "POST", "/api/v1/serve/up", body)


def serve_status(names: list[str] | str | None = None, *, all_users: bool = False) -> list[dict[str, Any]]:
    """Services (the named ones, or the caller's: every user's with `all_users`) with their replicas; see
    docs/json-output.md for the fields."""
    params = {"name": arguments.names(names, "names"), "all_users": all_users or None}
    return http.call(_server(), "GET", "/api/v1/serve", params=params, expect="records")


def serve_update(name: str, task, mode: str = "rolling") -> dict[str, Any]:
    """Make `task` the service's next version; its replicas move over by `mode` (rolling or blue_green)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}.")
    body = {"name": arguments.name(name, "name", optional=False), "task": _body_task(task), "mode": mode}
    return _sent(lambda field: task_field(field, 1), "POST", "/api/v1/serve/update", body)


def serve_down(names: list[str] | str | None = None, *, all: bool = False, purge: bool = False) -> dict[str, Any]:  # noqa: A002 - SkyPilot's keyword
    """Take services down (their replicas and load balancer go); `purge` also forgets one whose controller failed.

    Returns `{shutting_down, purged, skipped}`: `skipped` are failed services left alone without `purge`.
    """
    body = {"names": arguments.names(names, "names"), "all": all, "purge": purge}
    return http.call(_server(), "POST", "/api/v1/serve/down", body=body, timeout=600 if purge else 120, expect="record")


def serve_logs(name: str, replica_id: int | None = None, *, controller: bool = False, load_balancer: bool = False, follow: bool = True) -> Iterator[bytes]:
    """A replica's output (its launch, then its job), or the controller's or load balancer's log, as it comes.

    Not a generator itself: a wrong argument, an unknown service or replica is raised here, at the call.
    """
    if (replica_id is not None) + controller + load_balancer != 1:
        raise ValueError("give exactly one of replica_id, controller=True or load_balancer=True.")
    target = "controller" if controller else "load_balancer" if load_balancer else "replica"
    params: dict[str, Any] = {"target": target, "follow": follow}
    if replica_id is not None:
        params["replica_id"] = arguments.count(replica_id, "replica_id")
    name = str(arguments.name(name, "name", optional=False))
    response = http.open_response(_server(), "GET", f"/api/v1/serve/{_segment(name)}/logs", params=params, timeout=None)
    what = "--controller" if controller else "--load-balancer" if load_balancer else str(replica_id)
    return _byte_stream(response, f"`skyhop serve logs {name} {what}`", "the service goes on")
