"""`pool:`: a task file that defines a worker pool for managed jobs.

SkyPilot's pools (`sky jobs pool apply`) keep `workers` clusters warm and run
managed jobs on them; the file's setup runs once per worker. `skyhop jobs pool
apply` runs such a file (fixed `workers`, or autoscaled between min_workers and
max_workers: `skyhop.jobs.pool_sizing`); `launch` and `exec` refuse it
(`skyhop.execution.unsupported`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from skyhop.spec.errors import SpecError, join_path
from skyhop.spec.fields import as_int, as_mapping, as_number, check_keys, number_out

_COUNT_KEYS = ("workers", "min_workers", "max_workers", "queue_length_threshold")
_DELAY_KEYS = ("upscale_delay_seconds", "downscale_delay_seconds")


@dataclass(frozen=True)
class PoolSpec:
    """A fixed pool (`workers`) or an autoscaled one (`min_workers`..`max_workers`)."""

    workers: int | None = None
    min_workers: int | None = None
    max_workers: int | None = None
    queue_length_threshold: int | None = None
    upscale_delay_seconds: float | None = None
    downscale_delay_seconds: float | None = None

    @classmethod
    def from_dict(cls, data: Any, path: str = "pool") -> PoolSpec:
        mapping = as_mapping(data, path, "a mapping such as {workers: 3}")
        check_keys(mapping, _COUNT_KEYS + _DELAY_KEYS, path, "pool")
        def p(key):
            return join_path(path, key)
        values: dict[str, Any] = {}
        for key in _COUNT_KEYS:
            if mapping.get(key) is not None:
                values[key] = as_int(mapping[key], p(key), minimum=1 if key == "queue_length_threshold" else 0)
        for key in _DELAY_KEYS:
            if mapping.get(key) is not None:
                values[key] = number_out(as_number(mapping[key], p(key), minimum=0))
        if "workers" in values and ({"min_workers", "max_workers"} & set(values)):
            raise SpecError(p("workers"), "cannot be combined with min_workers/max_workers", hint="Use workers for a fixed pool, min_workers and max_workers to autoscale.")
        low, high = values.get("min_workers"), values.get("max_workers")
        if low is not None and high is not None and high < low:
            raise SpecError(p("max_workers"), "is below min_workers", value=high, expected=f">= {low}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in _COUNT_KEYS + _DELAY_KEYS if getattr(self, key) is not None}
