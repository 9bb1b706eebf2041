"""Train several models on one task, side by side, at a matched parameter budget.

Each model's width is fitted to the budget (``fastweights.models.sizing``), each run goes to
``OUT/<model>/`` in its own worker process with one intra-op thread, and the results table
(model, params, state size, test metric, time) is printed and written to ``OUT/results.md``
with the learning curves in ``OUT/learning_curves.png``.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import platform
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import torch

from fastweights import tasks
from fastweights.analysis.plots import plot_learning_curves
from fastweights.models.sizing import fit_width
from fastweights.train.loop import TrainConfig, train


def _run(model: str, task: str, model_config: dict, task_config: dict, cfg: TrainConfig,
         out: Path) -> dict:
    return train(model, task, model_config, task_config, cfg, out=out, progress=False)


def results_table(results: list[dict], metric: str) -> str:
    """A Markdown table of compare results, one row per model."""
    lines = [f"| model | params | state size (floats) | test {metric} | time (s) |",
             "|---|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['model']} | {r['params']:,} | {r['state_size']:,} | "
                     f"{r['final']['test/' + metric]:.3f} | {r['time']:.0f} |")
    return "\n".join(lines)


def compare(models: list[str], task: str, task_config: dict | None = None,
            model_config: dict | None = None, params: int = 40_000,
            train_config: TrainConfig | None = None, workers: int = 2,
            out: str | Path = "runs/compare") -> list[dict]:
    """Train ``models`` on ``task`` in ``workers`` parallel processes; return their summaries
    in the order given, after writing ``results.md`` and ``learning_curves.png`` to ``out``."""
    cfg = train_config or TrainConfig()
    task_config = task_config or {}
    the_task = tasks.build(task, **task_config)
    sizes = {"input_size": the_task.input_size, "output_size": the_task.output_size,
             "tokens": the_task.tokens}
    configs = {m: (model_config or {}) | {"d_model": fit_width(m, params, **(model_config or {}),
                                                             **sizes)} for m in models}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"Training {', '.join(models)} on {task} ({cfg.steps} steps each, ~{params:,} "
          f"parameters, {workers} worker(s) x {cfg.threads} thread(s))", flush=True)
    results = {}
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = {pool.submit(_run, m, task, configs[m], task_config, cfg, out / m): m
                   for m in models}
        for fut in as_completed(futures):
            r = fut.result()
            results[r["model"]] = r
            print(f"  {r['model']:<20} test {the_task.main_metric} "
                  f"{r['final']['test/' + the_task.main_metric]:.3f}  ({r['time']:.0f} s)",
                  flush=True)
    ordered = [results[m] for m in models]
    metric = the_task.main_metric
    table = results_table(ordered, metric)
    plot_learning_curves({m: out / m for m in models}, f"test/{metric}",
                         out / "learning_curves.png", title=f"{task}: held-out {metric}")
    task_desc = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(the_task.config).items())
    (out / "results.md").write_text(
        f"# {task}: {', '.join(models)}\n\n"
        f"Task: {task_desc}. Training: {dataclasses.asdict(cfg)}.\n"
        f"Machine: {platform.machine()}, {torch.get_num_threads()} thread(s) per run, "
        f"torch {torch.__version__}.\n\n{table}\n\n![learning curves](learning_curves.png)\n")
    print("\n" + table + f"\n\nWrote {out / 'results.md'} and {out / 'learning_curves.png'}")
    return ordered
