"""The SDK's arguments, taken in every shape the CLI takes and refused by name otherwise.

A Python caller can hand a verb anything: a task mapping where a `Task`
belongs, a pipeline as a list of dicts, a job id as a string. Each verb turns
its arguments into the one shape it sends through these functions, so a
wrong type is a `TypeError` that names the argument and lists what it
accepts, never an `AttributeError` from deep inside the client. Bad content
in the right type (an unknown task field, a bad name) stays a `SpecError` or
`SkyhopError`, as from the CLI.
"""

from __future__ import annotations

import os
from typing import Any

#: Ids the API takes (`skyhop.server.schemas.MAX_ID`; not imported: the client stays free of the server's modules).
MAX_ID = 2**31 - 1

_TASK_SHAPES = "a skyhop.Task, a task mapping (dict) or the path of a task YAML file"


def _type_error(argument: str, expected: str, value: Any) -> TypeError:
    return TypeError(f"{argument} must be {expected}; got {type(value).__name__}.")


def _is_path(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike))


def task(value: Any, argument: str = "task"):  # -> Task
    """One task: a `Task`, a mapping as in a task YAML, or the path of a one-task YAML file."""
    from skyhop.spec.task import Task

    if isinstance(value, Task):
        return value
    if isinstance(value, dict):
        return Task.from_dict(value)
    if _is_path(value):
        return Task.from_yaml(value)
    raise _type_error(argument, _TASK_SHAPES, value)


def pipeline(value: Any, argument: str = "tasks"):  # -> Pipeline
    """Tasks run in turn: a `Pipeline`, one task (any shape `task` takes), a YAML path (several documents
    allowed), or a non-empty list or tuple of tasks."""
    from skyhop.spec.errors import SpecError
    from skyhop.spec.pipeline import Pipeline
    from skyhop.spec.task import Task

    if isinstance(value, Pipeline):
        return value
    if _is_path(value):
        return Pipeline.from_yaml(value)
    if isinstance(value, (Task, dict)):
        return Pipeline.chain([task(value, argument)])
    if not isinstance(value, (list, tuple)):
        raise _type_error(argument, f"a skyhop.Pipeline, {_TASK_SHAPES}, or a list of tasks", value)
    if not value:
        raise ValueError(f"{argument} is empty; give at least one task.")
    items = []
    for index, item in enumerate(value):
        if not isinstance(item, (Task, dict)):  # a list of files is no pipeline file: which name, which order of documents?
            raise _type_error(f"{argument}[{index}]", "a skyhop.Task or a task mapping (dict) (a YAML path goes alone, not in a list)", item)
        try:
            items.append(task(item, f"{argument}[{index}]"))
        except SpecError as error:
            raise (error.within(f"task[{index}]") if len(value) > 1 else error) from None
    return Pipeline.chain(items)


def job_id(value: Any, argument: str = "job_id") -> int:
    """A job id: a whole number from 1 to MAX_ID (a bool is no id)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise _type_error(argument, "a job id (int)", value)
    if not 1 <= value <= MAX_ID:
        raise ValueError(f"{argument} must be from 1 to {MAX_ID}; got {value}.")
    return value


def job_ids(value: Any, argument: str = "job_ids") -> list[int]:
    """Job ids: None (none), one id, or a list or tuple of ids."""
    if value is None:
        return []
    if isinstance(value, int) and not isinstance(value, bool):
        return [job_id(value, argument)]
    if not isinstance(value, (list, tuple)):
        raise _type_error(argument, "a list of job ids (ints)", value)
    return [job_id(item, f"{argument}[{i}]") for i, item in enumerate(value)]


def name(value: Any, argument: str, *, optional: bool = True) -> str | None:
    """A name (of a job, a pool, a cluster): a string, or None where the verb has a default."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise _type_error(argument, "a string" + (" or None" if optional else ""), value)
    return value


def names(value: Any, argument: str) -> list[str]:
    """Names: None (all), one name, or a list or tuple of names."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple)):
        raise _type_error(argument, "a list of names (strings)", value)
    return [str(name(item, f"{argument}[{i}]", optional=False)) for i, item in enumerate(value)]


def count(value: Any, argument: str, *, minimum: int = 1, maximum: int = MAX_ID) -> int:
    """A whole number within bounds (a bool is no count)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise _type_error(argument, "an int", value)
    if not minimum <= value <= maximum:
        raise ValueError(f"{argument} must be from {minimum} to {maximum}; got {value}.")
    return value
