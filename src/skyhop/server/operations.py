"""What each request type does: JSON body in, JSON result out, via `skyhop.execution`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from skyhop.errors import SkyhopError
from skyhop.execution.progress import Progress
from skyhop.server.executor import Owner

if TYPE_CHECKING:
    from skyhop.server.job_access import JobAccess


def _task(body: dict[str, Any]):
    from skyhop.spec.task import Task

    return Task.from_dict(body["task"], env_overrides=body.get("envs") or None)


def _cluster_name(body: dict[str, Any]) -> str:
    from skyhop.execution.names import check_cluster_name

    name = body.get("cluster")
    if not isinstance(name, str):
        raise SkyhopError("A cluster name is required.")
    return check_cluster_name(name)


def make_operations(store, job_access: JobAccess | None = None) -> dict[str, Any]:
    """`job_access`: what jobs with `api_server_access` are given (None: such tasks are refused)."""
    from skyhop.execution import launch as launching
    from skyhop.execution import lifecycle
    from skyhop.execution.retry import until_up

    grant = None if job_access is None else job_access.grant

    def launch(body: dict[str, Any], progress: Progress, owner: Owner) -> Any:
        options = launching.LaunchOptions(
            cluster_name=_cluster_name(body),
            owner=owner.user,
            workspace=owner.workspace,
            detach_run=bool(body.get("detach_run")),
            dryrun=bool(body.get("dryrun")),
            down=bool(body.get("down")),
            idle_minutes=body.get("idle_minutes"),
            no_setup=bool(body.get("no_setup")),
            retry_until_up=bool(body.get("retry_until_up")),
            api_access=grant,
        )
        return launching.launch(_task(body), options, progress, store)

    def exec_(body: dict[str, Any], progress: Progress, owner: Owner) -> Any:
        return launching.exec_task(_task(body), _cluster_name(body), bool(body.get("detach_run")), progress, store, api_access=grant)

    def stop(body: dict[str, Any], progress: Progress, owner: Owner) -> Any:
        progress.phase("stopping")
        return lifecycle.stop(store, _cluster_name(body))

    def start(body: dict[str, Any], progress: Progress, owner: Owner) -> Any:
        progress.phase("starting")
        name, force = _cluster_name(body), bool(body.get("force"))
        return until_up(lambda: lifecycle.start(store, name, force=force), progress, retry=bool(body.get("retry_until_up")))

    def down(body: dict[str, Any], progress: Progress, owner: Owner) -> Any:
        progress.phase("tearing down")
        return lifecycle.down(store, _cluster_name(body), purge=bool(body.get("purge")))

    def down_orphans(body: dict[str, Any], progress: Progress, owner: Owner) -> Any:
        from skyhop.execution import orphans

        progress.phase("tearing down")
        return orphans.remove(store, list(body.get("keys") or []), progress)

    return {"launch": launch, "exec": exec_, "stop": stop, "start": start, "down": down, "down-orphans": down_orphans}
