"""Pipelines: several tasks whose outputs feed the next (multi-document YAML).

A YAML pipeline is a chain: an optional header document holding only `name`,
then one task per document. The Python SDK can also give arbitrary DAG edges.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from skyhop.spec.errors import SpecError
from skyhop.spec.task import Task


@dataclass(frozen=True)
class Pipeline:
    """Tasks plus dependency edges `(upstream index, downstream index)`."""

    tasks: tuple[Task, ...]
    edges: tuple[tuple[int, int], ...] = ()
    name: str | None = None

    def __post_init__(self) -> None:
        count = len(self.tasks)
        if count == 0:
            raise SpecError("", "a pipeline needs at least one task")
        for up, down in self.edges:
            if not (0 <= up < count and 0 <= down < count) or up == down:
                raise SpecError("", f"bad pipeline edge {up}->{down} for {count} tasks")
        if _has_cycle(count, self.edges):
            raise SpecError("", "pipeline edges form a cycle")

    @classmethod
    def chain(cls, tasks: list[Task] | tuple[Task, ...], name: str | None = None) -> "Pipeline":
        return cls(tuple(tasks), tuple((i, i + 1) for i in range(len(tasks) - 1)), name)

    def single_task(self) -> Task:
        """The one task of a single-document file; a pipeline here is a mistake."""
        if len(self.tasks) != 1:
            raise SpecError("", f"holds a pipeline of {len(self.tasks)} tasks, not one task", hint="Load it with skyhop.Pipeline.from_yaml().")
        return self.tasks[0]

    @property
    def is_chain(self) -> bool:
        return set(self.edges) == {(i, i + 1) for i in range(len(self.tasks) - 1)}

    @classmethod
    def from_yaml_str(cls, text: str, env_overrides: Mapping[str, str] | None = None) -> "Pipeline":
        from skyhop.spec.yaml_io import load_documents

        docs = load_documents(text)
        if all(doc is None for doc in docs):
            raise SpecError("", "the task file is empty", expected="a mapping with at least 'run' or 'resources'")
        while docs and docs[-1] is None and len(docs) > 1:
            docs.pop()
        name = None
        if len(docs) > 1 and isinstance(docs[0], dict) and set(docs[0]) == {"name"}:
            name = None if docs[0]["name"] is None else str(docs[0]["name"])  # `name:` alone is no name, not "None"
            docs = docs[1:]
        tasks = []
        for index, doc in enumerate(docs):
            try:
                tasks.append(Task.from_dict(doc, env_overrides=env_overrides))
            except SpecError as error:
                if len(docs) == 1:
                    raise
                raise error.within(f"task[{index}]") from None
        return cls.chain(tasks, name)

    @classmethod
    def from_yaml(cls, path: str | Path, env_overrides: Mapping[str, str] | None = None) -> "Pipeline":
        from skyhop.spec.yaml_io import read_text

        try:
            return cls.from_yaml_str(read_text(path), env_overrides=env_overrides)
        except SpecError as error:
            raise error.with_source(str(path)) from None


def _has_cycle(count: int, edges: tuple[tuple[int, int], ...]) -> bool:
    indegree = [0] * count
    children: list[list[int]] = [[] for _ in range(count)]
    for up, down in edges:
        children[up].append(down)
        indegree[down] += 1
    ready = [i for i in range(count) if indegree[i] == 0]
    seen = 0
    while ready:
        node = ready.pop()
        seen += 1
        for child in children[node]:
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
    return seen != count
