"""Where a service's files live on the API server's machine: one private folder per service.

`SKYHOP_HOME/services/<name>/` (0700) holds the controller's log, the load balancer's
log, its routes (written by the controller) and its stats (written by the load
balancer), and each replica's launch log. The controller, the API routes that stream
the logs and the load balancer all find them here.
"""

from __future__ import annotations

from pathlib import Path

from skyhop import paths


def service_dir(name: str) -> Path:
    return paths.private_dir(paths.home() / "services" / name)


def controller_log(name: str) -> Path:
    return service_dir(name) / "controller.log"


def lb_log(name: str) -> Path:
    return service_dir(name) / "load_balancer.log"


def launch_log(name: str, replica_id: int) -> Path:
    return service_dir(name) / f"launch-{replica_id}.log"
