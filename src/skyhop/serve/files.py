"""Where a service's files live on the API server's machine: one private folder per service.

`SKYHOP_HOME/services/<name>/` (0700) holds the controller's log, the load balancer's
log, its routes (written by the controller) and its stats (written by the load
balancer), each replica's launch log, and the output of replicas whose program failed. The controller, the API routes that stream
the logs and the load balancer all find them here. The folder goes with its service
(`remove`): a later service of the same name starts with none of it.
"""

from __future__ import annotations

import os
import shutil
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


def saved_output(name: str, replica_id: int) -> Path:
    """A failed replica's program output, kept here before its cluster is torn down (`serve logs NAME ID`)."""
    return service_dir(name) / f"output-{replica_id}.log"


def remove(name: str) -> None:
    """Delete the service's folder, just before its row goes. What it holds belongs to this service only: a replica's
    launch log left behind made the next service of that name resume its replica 1 (the log says a job was
    submitted) on a cluster long gone, failing each reused replica id once, 30 s apart; its controller log
    continued the old one's."""
    shutil.rmtree(paths.home() / "services" / name, ignore_errors=True)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` whole (a reader never sees half a file), mode 0600: the routes, the stats, a saved output."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    os.replace(tmp, path)
