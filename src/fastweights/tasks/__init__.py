"""Tasks by name: ``fastweights.tasks.build("mqar", n_pairs=4)``.

``TASKS`` maps every registry name to its class; ``build`` also accepts
``"neurogym:<EnvName>"`` (an optional adapter that needs the ``neurogym`` package).
``describe_all()`` is the text of ``fastweights tasks``: every task with its default config,
the budget with which that config learns, and one rendered example.
"""

from __future__ import annotations

import dataclasses
import sys

import torch

from fastweights.registry import check_fields
from fastweights.tasks.assoc_retrieval import AssocRetrieval
from fastweights.tasks.base import IGNORE, RegressionTask, Task, TaskConfig
from fastweights.tasks.budget import TrainBudget
from fastweights.tasks.capacity import Capacity
from fastweights.tasks.char_lm import CharLM
from fastweights.tasks.copy import Copy
from fastweights.tasks.delayed_match import DelayedMatch
from fastweights.tasks.formal_lang import FormalLang
from fastweights.tasks.fuzzy_recall import FuzzyRecall
from fastweights.tasks.hds import HDS
from fastweights.tasks.icl_regression import ICLRegression
from fastweights.tasks.masse_dms import MasseDMRS, MasseDMS
from fastweights.tasks.mqar import MQAR
from fastweights.tasks.mqar_overwrite import MQAROverwrite
from fastweights.tasks.noisy_recall import NoisyRecall
from fastweights.tasks.selective_copy import SelectiveCopy
from fastweights.tasks.state_tracking import StateTracking

TASKS: dict[str, type[Task]] = {cls.name: cls for cls in (
    AssocRetrieval, Capacity, MQAR, MQAROverwrite, SelectiveCopy, NoisyRecall, FuzzyRecall,
    Copy, HDS, FormalLang, StateTracking, ICLRegression, DelayedMatch, CharLM,
    MasseDMS, MasseDMRS,
)}
NEUROGYM_PREFIX = "neurogym:"


def build(name: str, **config) -> Task:
    """Build a task by registry name; unknown names and config keys raise ValueError."""
    if name.startswith(NEUROGYM_PREFIX):
        from fastweights.tasks.neurogym_adapter import NeuroGymConfig, NeuroGymTask

        cls, config = NeuroGymTask, {"env": name[len(NEUROGYM_PREFIX):], **config}
        check_fields("task", name, NeuroGymConfig, config)
        return cls(NeuroGymConfig(**config))
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; available: {', '.join(sorted(TASKS))}, "
                         f"{NEUROGYM_PREFIX}<EnvName>")
    cls = TASKS[name]
    check_fields("task", name, cls.Config, config)
    return cls(cls.Config(**config))


def describe(name: str, seed: int = 0) -> str:
    """One task as text: its name, summary, default config, one rendered example."""
    task = build(name)
    module_doc = sys.modules[type(task).__module__].__doc__ or ""
    first = " ".join(module_doc.strip().split("\n\n")[0].split())
    config = ", ".join(f"{k}={v!r}" for k, v in dataclasses.asdict(task.config).items())
    x, y = task.sample(1, torch.Generator().manual_seed(seed))
    example = task.render(x[0], y[0])
    direction = "higher" if task.higher_is_better else "lower"
    kind = "tokens" if task.tokens else "features"
    return "\n".join([
        f"{name}: {first}",
        f"  input: {task.input_size} {kind}, output: {task.output_size}, "
        f"main metric: {task.main_metric} ({direction} is better)",
        f"  config: {config}",
        *([f"  budget that learns: {task.budget.describe(task.main_metric)}"]
          if task.budget is not None else []),
        "  example:",
        *(f"    {line}" for line in example.splitlines()),
    ])


def describe_all(seed: int = 0) -> str:
    """Every registered task (``fastweights tasks``), then a note on the NeuroGym adapter."""
    parts = [describe(name, seed) for name in TASKS]
    parts.append(f"{NEUROGYM_PREFIX}<EnvName>: any NeuroGym environment as a task, e.g. "
                 f"{NEUROGYM_PREFIX}DelayMatchSample-v0 (optional: pip install neurogym)")
    return "\n\n".join(parts)


__all__ = ["IGNORE", "TASKS", "RegressionTask", "Task", "TaskConfig", "TrainBudget", "build",
           "describe", "describe_all"]
