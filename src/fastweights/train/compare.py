"""Train several models on one task, side by side, at a matched parameter budget.

A one-seed, one-learning-rate sweep (``fastweights.train.sweep``): each model's width is
fitted to the budget, each run goes to ``OUT/<run>/`` in a worker process with one intra-op
thread, and the results table (model, params, state size, test metric, time) is printed and
written to ``OUT/results.md`` with the learning curves in ``OUT/learning_curves.png``.
"""

from __future__ import annotations

import dataclasses
import platform
from pathlib import Path

import torch

from fastweights.analysis.plots import plot_learning_curves
from fastweights.train.config import TrainConfig, build_task
from fastweights.train.sweep import Sweep, execute


def results_table(results: list[dict]) -> str:
    """A Markdown table of compare results, one row per model."""
    metric = results[0]["main_metric"]
    lines = [f"| model | params | state size (floats) | test {metric} | time (s) |",
             "|---|---:|---:|---:|---:|"]
    for r in results:
        state = f"{r['state_size']:,}" + (" per token" if r.get("state_grows") else "")
        lines.append(f"| {r['model']} | {r['params']:,} | {state} | "
                     f"{r['final']['test/' + metric]:.3f} | {r['time']:.0f} |")
    return "\n".join(lines)


def compare(models: list[str], task: str, task_config: dict | None = None,
            model_config: dict | None = None, params: int | None = 40_000,
            train_config: TrainConfig | None = None, workers: int = 2,
            out: str | Path = "runs/compare") -> list[dict]:
    """Train ``models`` on ``task``; return their summaries in the order given, after
    writing ``results.md`` and ``learning_curves.png`` to ``out``. Finished runs in ``out``
    are reused, unfinished ones resumed."""
    cfg = train_config or TrainConfig()
    train = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("lr", "seed")}
    sweep = Sweep(models=models, tasks=[task], lrs=[cfg.lr], seeds=[cfg.seed],
                  model=model_config or {}, task=task_config or {}, train=train,
                  params=params, workers=workers, out=str(out))
    results = execute(sweep)
    out = Path(out)
    the_task = build_task(task, task_config or {})
    table = results_table(results)
    plot_learning_curves({r["model"]: out / r["run"] for r in results},
                         f"test/{the_task.main_metric}", out / "learning_curves.png",
                         title=f"{task}: held-out {the_task.main_metric}")
    task_desc = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(the_task.config).items())
    (out / "results.md").write_text(
        f"# {task}: {', '.join(models)}\n\n"
        f"Task: {task_desc}. Training: {dataclasses.asdict(cfg)}.\n"
        f"Machine: {platform.machine()}, {cfg.threads} thread(s) per run, "
        f"torch {torch.__version__}.\n\n{table}\n\n![learning curves](learning_curves.png)\n")
    print("\n" + table + f"\n\nWrote {out / 'results.md'} and {out / 'learning_curves.png'}")
    return results
