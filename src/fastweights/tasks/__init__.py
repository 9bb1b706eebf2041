"""Tasks by name: ``fastweights.tasks.build("assoc-retrieval", n_pairs=3)``."""

from __future__ import annotations

import dataclasses

from fastweights.tasks.assoc_retrieval import AssocRetrieval
from fastweights.tasks.base import IGNORE, Task, TaskConfig

TASKS: dict[str, type[Task]] = {cls.name: cls for cls in (AssocRetrieval,)}


def build(name: str, **config) -> Task:
    """Build a task by registry name; unknown names and config keys raise ValueError."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; available: {', '.join(sorted(TASKS))}")
    cls = TASKS[name]
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    unknown = sorted(set(config) - fields)
    if unknown:
        raise ValueError(f"task {name!r} has no config field(s) {unknown}; "
                         f"fields: {sorted(fields)}")
    return cls(cls.Config(**config))


__all__ = ["IGNORE", "TASKS", "Task", "TaskConfig", "build"]
