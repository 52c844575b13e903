"""`/api/v1/optimize`: where a task (or pipeline) would run and what it would cost, planned by the server.

Which infra is searched depends on credentials, SSH pools, plugins and
config.yaml, and the server is what launches: planning here means `optimize`
shows the plan `launch` would follow (a CLI with other credentials in its
shell, or a remote server, cannot disagree). It also keeps loaded catalogs in
memory between requests (`catalog.load`). The answer is the documented
`optimize --output json` document, unchanged.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from skyhop.server.openapi import errors
from skyhop.server.schemas import TaskMapping

router = APIRouter(tags=["optimize"])

#: Stages of a pipeline, and edges between them: far beyond real use, small enough for the ILP.
MAX_TASKS = 256


class OptimizeBody(BaseModel):
    """Tasks as `Task.to_dict` mappings; one task without edges is a task, anything else a pipeline."""

    model_config = ConfigDict(extra="forbid")

    tasks: list[TaskMapping] = Field(..., min_length=1, max_length=MAX_TASKS)
    edges: list[tuple[int, int]] = Field(default_factory=list, max_length=MAX_TASKS * MAX_TASKS)
    name: str | None = Field(default=None, max_length=256)
    all_clouds: bool = False
    hours: float = Field(default=1.0, allow_inf_nan=False)


@router.post("/api/v1/optimize", responses=errors(400, 503))
def optimize(body: OptimizeBody) -> dict[str, Any]:
    """The plan (`Plan.to_json`) for one task, or the placement (`PipelinePlan.to_json`) of a pipeline."""
    from skyhop import sdk
    from skyhop.spec.pipeline import Pipeline
    from skyhop.spec.task import Task

    tasks = tuple(Task.from_dict(task) for task in body.tasks)
    if len(tasks) == 1 and not body.edges:
        return sdk.optimize(tasks[0], all_clouds=body.all_clouds, hours=body.hours).to_json()
    pipeline = Pipeline(tasks, tuple(body.edges), body.name)
    return sdk.optimize_pipeline(pipeline, all_clouds=body.all_clouds, hours=body.hours).to_json()
