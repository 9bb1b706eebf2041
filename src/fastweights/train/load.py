"""Load a trained run back: ``fastweights.load_run("runs/x")``.

The model is built from ``config.json`` with the sizes it was trained with, its weights come
from ``best.pt`` (the best main test metric) or the latest good checkpoint (``"last"``),
read without running code. ``task`` overrides (e.g. longer test sequences) are checked
against the model: a change of input or output size is a ValueError.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from fastweights import models, tasks
from fastweights.train.checkpoint import BEST, load_checkpoint, read
from fastweights.train.config import (
    Experiment,
    build_task,
    convert,
    load_experiment,
    model_sizes,
    task_config_class,
)
from fastweights.train.errors import InvalidFile
from fastweights.train.shell import METRICS, RESULT


@dataclass
class Run:
    """A run folder loaded back. ``metrics``: the rows of ``metrics.jsonl``; ``result``: the
    summary of a finished run (None while unfinished); ``step``: the step of the weights."""

    path: Path
    experiment: Experiment
    model: models.SequenceModel
    task: tasks.Task
    metrics: list[dict]
    result: dict | None
    step: int
    checkpoint: str


def load_run(run_dir: str | Path, checkpoint: str = "best", task: dict | None = None,
             text: bool = False) -> Run:
    """Load ``run_dir`` (``checkpoint``: ``"best"`` or ``"last"``); the model is in eval mode
    on the CPU. ``task``: task fields to change (strings parsed as flags when ``text``)."""
    run_dir = Path(run_dir)
    if checkpoint not in ("best", "last"):
        raise ValueError(f"checkpoint must be 'best' or 'last', got {checkpoint!r}")
    exp = load_experiment(run_dir)
    fields = exp.task.fields()
    if task:
        fields |= convert(task_config_class(exp.task.name), task, "task", text=text)
    the_task = build_task(exp.task.name, fields)
    trained = {k: getattr(exp.model.config, k) for k in model_sizes(the_task)}
    changed = [f"{k} {trained[k]} -> {v}" for k, v in model_sizes(the_task).items()
               if v != trained[k]]
    if changed:
        raise ValueError(f"the task overrides change what the model reads or predicts "
                         f"({', '.join(changed)}); the run's model was trained with "
                         f"{', '.join(f'{k}={v}' for k, v in trained.items())}")
    if checkpoint == "best" and (run_dir / BEST).is_file():
        ckpt = read(run_dir / BEST)
    else:
        ckpt = load_checkpoint(run_dir)
        if ckpt is None:
            raise InvalidFile(f"{run_dir}: no usable checkpoint (best.pt, ckpt.pt, "
                              f"ckpt.prev.pt)")
    model = exp.build_model()
    try:
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, TypeError) as e:
        lines = str(e).strip().splitlines()
        detail = lines[1].strip() if len(lines) > 1 else lines[0]
        raise InvalidFile(f"{run_dir}: the checkpoint holds the weights of another model "
                          f"than config.json's {exp.model.name!r} ({detail[:160]})") from None
    model.eval()
    rows = []
    if (run_dir / METRICS).is_file():
        for n, line in enumerate((run_dir / METRICS).read_text().splitlines(), 1):
            try:
                rows.append(json.loads(line))
            except ValueError:
                raise InvalidFile(f"{run_dir / METRICS}: line {n} is not valid JSON") from None
    result = None
    if (run_dir / RESULT).is_file():
        try:
            result = json.loads((run_dir / RESULT).read_text())
        except ValueError:
            raise InvalidFile(f"{run_dir / RESULT} is not valid JSON") from None
    return Run(run_dir, exp, model, the_task, rows, result, int(ckpt["step"]), checkpoint)

