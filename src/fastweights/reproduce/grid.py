"""Cells × learning rates × seeds: run them once, pick each cell's learning rate on validation.

A ``Cell`` is one model on one task under a ``Budget``; its runs are the budget's learning
rates × seeds, each in ``WORKDIR/<cell>/<model>-<task>-lr<lr>-s<seed>/``. ``run_grid``
trains every run not yet finished (in this process with one worker, else in one pool of
worker processes for the whole grid), then chooses each cell's learning rate: the one whose
**median over seeds** of ``select(run)`` is highest, where ``select`` reads the validation
split (by default the best validation main metric over the run's evaluations). When that
learning rate is the single best and sits at an edge of the grid, the grid grows one step
beyond it (the next value on the 1–3–10 ladder) and the cell runs again, up to
``budget.extend`` times.
Finished runs are never retrained, so a rerun (or ``--report``) replays the same decisions
from the same files, and the same seeds give the same numbers.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import torch

from fastweights import tasks
from fastweights.reproduce.budget import Budget, Context
from fastweights.train import Experiment, load_run, train
from fastweights.train.shell import RESULT, same_experiment
from fastweights.train.sweep import Sweep, _exit_with_parent


@dataclass
class Cell:
    key: str  # unique within a reproduction: the cell's folder
    model: str
    task: str
    budget: Budget
    model_config: dict = field(default_factory=dict)
    task_config: dict = field(default_factory=dict)
    params: int | None = None  # fit the model's width to this many parameters

    def experiments(self, lrs: list[float], workdir: Path) -> list[tuple[Path, Experiment]]:
        sweep = Sweep(models=[self.model], tasks=[self.task], lrs=lrs,
                      seeds=list(self.budget.seeds), model=dict(self.model_config),
                      task=self.task_config | {"val_size": self.budget.val_size},
                      train=self.budget.train(), params=self.params, workers=1,
                      out=str(workdir / self.key))
        return [(workdir / self.key / name, exp) for name, exp in sweep.experiments()]


@dataclass
class Run:
    """One finished run of a cell: its folder, learning rate, seed and ``result.json``."""

    cell: str
    dir: Path
    lr: float
    seed: int
    result: dict
    budget_steps: int  # the steps it could have run (a run may stop early at its target)

    @property
    def history(self) -> list[dict]:
        return self.result["history"]

    @property
    def main(self) -> str:
        return self.result["main_metric"]

    @property
    def selected(self) -> dict:
        """The evaluation with the best validation main metric (the earliest among ties):
        the row every reported test number is read from."""
        sign = 1 if self.result["higher_is_better"] else -1
        return max(self.history, key=lambda h: sign * h[f"val/{self.main}"])

    def val(self, metric: str | None = None) -> float:
        """The validation ``metric`` (default: the main one) at the selected evaluation."""
        return self.selected[f"val/{metric or self.main}"]

    def test(self, metric: str | None = None, split: str = "test") -> float:
        """``split/metric`` at the evaluation chosen on validation."""
        return self.selected[f"{split}/{metric or self.main}"]

    def steps_to(self, threshold: float, split: str = "test", metric: str | None = None
                 ) -> float:
        """The first evaluated step at which ``split/metric`` reaches ``threshold``
        (``inf``: never within the budget)."""
        key = f"{split}/{metric or self.main}"
        return next((float(h["step"]) for h in self.history if h[key] >= threshold),
                    float("inf"))

    def load(self) -> tuple[torch.nn.Module, tasks.Task]:
        """The run's best checkpoint (in eval mode) with its task."""
        loaded = load_run(self.dir, checkpoint="best")
        return loaded.model, loaded.task

    def untrained(self) -> torch.nn.Module:
        """A fresh model of the run's config seeded with the run's seed (as the trainer seeds
        before it builds the model); the global RNG is left as it was."""
        exp = load_run(self.dir).experiment
        rng = torch.get_rng_state()
        try:
            torch.manual_seed(self.seed)
            return exp.build_model().eval()
        finally:
            torch.set_rng_state(rng)


def default_select(run: Run) -> float:
    """The validation main metric at its best evaluation, signed so that higher is better."""
    return run.val() * (1 if run.result["higher_is_better"] else -1)


def val_area(run: Run) -> float:
    """The mean validation main metric over the run's evaluations, a run stopped early
    holding its last value to the end of its budget: rewards learning sooner, not only
    better (signed so that higher is better)."""
    values = [h[f"val/{run.main}"] for h in run.history]
    every = run.history[0]["step"]
    missing = max(run.budget_steps // every - len(values), 0)
    area = (sum(values) + missing * values[-1]) / (len(values) + missing)
    return area * (1 if run.result["higher_is_better"] else -1)


@dataclass
class CellResult:
    cell: Cell
    runs: list[Run]  # every learning rate tried × every seed
    lr: float  # the learning rate chosen on validation
    scores: dict[float, float]  # lr -> median over seeds of select(run)

    @property
    def lrs(self) -> list[float]:
        return sorted(self.scores)

    def at(self, lr: float | None = None) -> list[Run]:
        """The runs (one per seed, in seed order) at ``lr`` (default: the chosen one)."""
        lr = self.lr if lr is None else lr
        return sorted((r for r in self.runs if r.lr == lr), key=lambda r: r.seed)

    @property
    def chosen(self) -> list[Run]:
        return self.at()


def choose_lr(scores: dict[float, float]) -> tuple[float, float | None]:
    """The best learning rate (highest score; the smaller lr among ties) and, when it is the
    single best and lies at an edge of the grid, the next value beyond that edge on the
    1–3–10 ladder (else None)."""
    lrs = sorted(scores)
    best = max(lrs, key=lambda lr: (scores[lr], -lr))
    unique = sum(scores[lr] == scores[best] for lr in lrs) == 1
    if len(lrs) < 2 or not unique or best not in (lrs[0], lrs[-1]):
        return best, None
    e = math.floor(math.log10(best))
    ladder = [float(f"{m * 10.0 ** k:.3g}") for k in range(e - 2, e + 3) for m in (1, 3)]
    if best == lrs[-1]:
        return best, min(x for x in ladder if x > 1.5 * best)
    return best, max(x for x in ladder if x < best / 1.5)


def run_grid(cells: list[Cell], ctx: Context,
             select: Callable[[Run], float] = default_select) -> dict[str, CellResult]:
    """Train (unless ``ctx.report_only``) and load every cell; choose each cell's learning
    rate as the module docstring says. Returns cell key -> ``CellResult``, in input order."""
    keys = [c.key for c in cells]
    if len(set(keys)) != len(keys):
        raise ValueError(f"cell keys must be unique, got {keys}")
    grids = {c.key: list(c.budget.lrs) for c in cells}
    pending, rounds, results = list(cells), {c.key: 0 for c in cells}, {}
    while pending:
        jobs = {c.key: c.experiments(grids[c.key], ctx.workdir) for c in pending}
        _execute([job for js in jobs.values() for job in js], ctx)
        grown = []
        for c in pending:
            runs = [_read(c.key, d, exp) for d, exp in jobs[c.key]]
            scores = {lr: statistics.median(select(r) for r in runs if r.lr == lr)
                      for lr in grids[c.key]}
            lr, beyond = choose_lr(scores)
            results[c.key] = CellResult(c, runs, lr, scores)
            if beyond is not None and rounds[c.key] < c.budget.extend:
                print(f"  {c.key}: best lr {lr:g} at the edge of "
                      f"{', '.join(f'{x:g}' for x in grids[c.key])}; adding {beyond:g}",
                      flush=True)
                grids[c.key] = sorted(grids[c.key] + [beyond])
                rounds[c.key] += 1
                grown.append(c)
        pending = grown
    return {k: results[k] for k in keys}


def _read(cell: str, run_dir: Path, exp: Experiment) -> Run:
    return Run(cell, run_dir, exp.train.lr, exp.train.seed,
               json.loads((run_dir / RESULT).read_text()), exp.train.steps)


def _train(exp: Experiment, run_dir: Path) -> dict:
    return train(exp, out=run_dir, progress=False, resume=True)


def _execute(jobs: list[tuple[Path, Experiment]], ctx: Context) -> None:
    """Train the unfinished runs among ``jobs``: in this process with one worker, else in
    ``ctx.workers`` processes. With ``ctx.report_only`` a missing run is an error."""
    for run_dir, exp in jobs:
        diff = same_experiment(run_dir, exp)
        if diff:
            raise ValueError(f"{run_dir} holds a different experiment (differs in "
                             f"{', '.join(diff[:6])}); choose another --runs folder or remove "
                             f"that run")
    todo = [(d, exp) for d, exp in jobs if not (d / RESULT).exists()]
    if not todo:
        return
    if ctx.report_only:
        raise ValueError(f"--report needs finished runs; {len(todo)} missing, e.g. "
                         f"{todo[0][0]}: run the reproduction without --report first")
    start, finished = time.perf_counter(), []
    print(f"  training {len(todo)} run(s) with {min(ctx.workers, len(todo))} process(es)",
          flush=True)

    def done(run_dir: Path, r: dict) -> None:
        main, elapsed = r["main_metric"], time.perf_counter() - start
        finished.append(run_dir)
        left = elapsed / len(finished) * (len(todo) - len(finished))
        print(f"  [{len(finished)}/{len(todo)}] {run_dir.parent.name}/{run_dir.name}: val {main} "
              f"{r['final']['val/' + main]:.3f}, test {r['final']['test/' + main]:.3f} "
              f"({r['steps']} steps, {r['time']:.0f} s); {elapsed / 60:.1f} min elapsed, "
              f"about {left / 60:.1f} min left", flush=True)

    if ctx.workers <= 1 or len(todo) == 1:
        for run_dir, exp in todo:
            done(run_dir, _train(exp, run_dir))
        return
    mp = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(ctx.workers, len(todo)), mp_context=mp,
                             initializer=_exit_with_parent, initargs=(os.getpid(),)) as pool:
        futures = {pool.submit(_train, exp, d): d for d, exp in todo}
        for fut in as_completed(futures):
            done(futures[fut], fut.result())
