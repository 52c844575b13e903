"""skyhop: run AI and batch jobs on the cheapest infra that can take them.

The package root stays import-light (a test guards it): the public names are
resolved on first attribute access, so `import skyhop` costs only this file.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `typing.TYPE_CHECKING`: importing typing costs ~8 ms here
__version__ = "0.1.0"

_LAZY = {
    "Task": "skyhop.spec.task",
    "Resources": "skyhop.spec.resources",
    "Accelerator": "skyhop.spec.resources",
    "Infra": "skyhop.spec.infra",
    "Pipeline": "skyhop.spec.pipeline",
    "ServiceSpec": "skyhop.spec.service",
    "SpecError": "skyhop.spec.errors",
    "SkyhopError": "skyhop.errors",
    "optimize": "skyhop.sdk",
    "optimize_pipeline": "skyhop.sdk",
    "show_gpus": "skyhop.sdk",
    "check": "skyhop.sdk",
    "load_catalog": "skyhop.sdk",
    # Cluster verbs go through the API server (started locally on first use).
    "launch": "skyhop.client.api",
    "exec": "skyhop.client.api",
    "status": "skyhop.client.api",
    "queue": "skyhop.client.api",
    "logs": "skyhop.client.api",
    "cancel": "skyhop.client.api",
    "stop": "skyhop.client.api",
    "start": "skyhop.client.api",
    "down": "skyhop.client.api",
    "autostop": "skyhop.client.api",
    "cost_report": "skyhop.client.api",
    # Managed jobs (`skyhop jobs ...`), run to the end by the API server's controller.
    "jobs_launch": "skyhop.client.api",
    "jobs_queue": "skyhop.client.api",
    "jobs_logs": "skyhop.client.api",
    "jobs_cancel": "skyhop.client.api",
    "jobs_resume": "skyhop.client.api",
    "jobs_pool_apply": "skyhop.client.api",
    "jobs_pool_status": "skyhop.client.api",
    "jobs_pool_down": "skyhop.client.api",
    # Services (`skyhop serve ...`): replicas behind one endpoint, kept up by the API server's controller.
    "serve_up": "skyhop.client.serve",
    "serve_status": "skyhop.client.serve",
    "serve_update": "skyhop.client.serve",
    "serve_down": "skyhop.client.serve",
    "serve_logs": "skyhop.client.serve",
    # Python functions on a pool's nodes; cloudpickle loads on the first call, not here.
    "Pool": "skyhop.functions.pool",
    "function": "skyhop.functions",
    "shard": "skyhop.functions",
    "NodeLost": "skyhop.functions.errors",
    "RemoteError": "skyhop.functions.errors",
}

__all__ = sorted(_LAZY) + ["__version__"]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from typing import Any

    from skyhop.client.api import (
        autostop,
        cancel,
        cost_report,
        down,
        exec,
        jobs_cancel,
        jobs_launch,
        jobs_logs,
        jobs_pool_apply,
        jobs_pool_down,
        jobs_pool_status,
        jobs_queue,
        jobs_resume,
        launch,
        logs,
        queue,
        start,
        status,
        stop,
    )
    from skyhop.client.serve import serve_down, serve_logs, serve_status, serve_up, serve_update
    from skyhop.errors import SkyhopError
    from skyhop.functions import function, shard
    from skyhop.functions.errors import NodeLost, RemoteError
    from skyhop.functions.pool import Pool
    from skyhop.sdk import check, load_catalog, optimize, optimize_pipeline, show_gpus
    from skyhop.spec.errors import SpecError
    from skyhop.spec.infra import Infra
    from skyhop.spec.pipeline import Pipeline
    from skyhop.spec.resources import Accelerator, Resources
    from skyhop.spec.service import ServiceSpec
    from skyhop.spec.task import Task


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'skyhop' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
