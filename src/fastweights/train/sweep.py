"""Sweeps: a grid of models × tasks × learning rates × seeds, run in parallel worker processes.

A sweep file (TOML) names the grid and the shared settings::

    out = "runs/sweep-assoc"
    workers = 2                 # processes, one intra-op thread each (train.threads)
    models = ["deltanet", "lstm"]
    tasks = ["assoc-retrieval"]
    lrs = [1e-3, 3e-3]
    seeds = [0, 1, 2]
    params = 20000              # optional: fit each model's width to this budget
    [model]                     # fields for every model; [model.lstm] for one model
    [task]                      # fields for every task; [task.mqar] for one task
    [train]                     # TrainConfig fields (lr and seed come from the grid)
    steps = 1000

Each run goes to ``OUT/<run name>/`` (``fastweights.train.naming``: model, task, lr, steps,
seed and a hash of the whole experiment, the rule of ``fastweights train``). A finished run
(``result.json``) is never run again; an unfinished one resumes from its checkpoint, so a
sweep killed at any moment and restarted finishes every configuration exactly once. The
results table (per model × task × lr over seeds: n, median, min, max, std; the best lr
marked) is written as ``results.md`` and ``results.csv``, with learning curves (seed bands)
and metric-vs-size plots. ``fastweights sweep FILE --ray [ADDRESS]`` runs the same grid on a
Ray cluster (``fastweights.train.ray_sweep``).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import multiprocessing
import os
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from fastweights.train.config import Experiment, TrainConfig, capped, read_toml
from fastweights.train.errors import InvalidFile
from fastweights.train.fields import convert
from fastweights.train.lock import run_lock
from fastweights.train.naming import run_name
from fastweights.train.shell import RESULT, same_experiment
from fastweights.train.supervised import train

GRID_KEYS = ("models", "tasks", "lrs", "seeds")
RAY_ENV = "FASTWEIGHTS_RAY"  # a Ray address: every sweep runs there


@dataclass
class Sweep:
    models: list[str]
    tasks: list[str]
    lrs: list[float] = field(default_factory=lambda: [TrainConfig.lr])
    seeds: list[int] = field(default_factory=lambda: [0])
    model: dict = field(default_factory=dict)
    task: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    params: int | None = None
    workers: int = 2
    out: str = "runs/sweep"

    @classmethod
    def from_file(cls, path: str | Path) -> Sweep:
        d = read_toml(path)
        try:
            values = convert(cls, d, "sweep")
        except ValueError as e:
            raise ValueError(f"sweep file {path}: {e}") from None
        missing = [k for k in ("models", "tasks") if not values.get(k)]
        if missing:
            raise ValueError(f"sweep file {path}: {missing} must be non-empty lists")
        return cls(**values)

    def experiments(self) -> list[tuple[str, Experiment]]:
        """The grid as (run name, validated experiment) pairs; bad entries raise here, and
        so do two entries that would share a run folder."""
        convert(Sweep, dataclasses.asdict(self), "sweep")  # the types, when made in Python
        if not self.workers >= 1:
            raise ValueError(f"sweep workers must be >= 1, got {self.workers}")
        runs, train_cfg = [], convert(TrainConfig, self.train, "train")
        for task in self.tasks:
            for model in self.models:
                base = Experiment.make(model, task, self._section("model", model),
                                       self._section("task", task), params=self.params)
                for lr in self.lrs:
                    for seed in self.seeds:
                        train = TrainConfig(**(train_cfg | {"lr": lr, "seed": seed}))
                        exp = capped(dataclasses.replace(base, train=train))
                        runs.append((run_name(exp), exp))
        seen: dict[str, int] = {}
        for i, (name, _) in enumerate(runs):
            if name in seen:
                raise ValueError(f"sweep: two entries of the grid would share the run folder "
                                 f"{name!r} (a model, task, lr or seed listed twice); "
                                 f"remove the duplicate")
            seen[name] = i
        return runs

    def _section(self, section: str, name: str) -> dict:
        shared = getattr(self, section)
        plain = {k: v for k, v in shared.items() if not isinstance(v, dict)}
        return plain | shared.get(name, {})


def _exit_with_parent(parent: int) -> None:
    """Worker initializer: leave when the sweep process dies, so a restarted sweep never
    races an orphaned worker for the same run folder."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _train_run(job: tuple[str, Experiment, Path]) -> tuple[str, dict]:
    name, exp, run_dir = job
    return name, train(exp, out=run_dir, progress=name, resume=True)


def check_folders(runs: list[tuple[str, Experiment]], out: Path) -> None:
    """Refuse a grid whose run folders in ``out`` hold other experiments."""
    for name, exp in runs:
        diff = same_experiment(out / name, exp)
        if diff:
            raise ValueError(f"{out / name} holds a different experiment (differs in "
                             f"{', '.join(diff[:6])}); choose another output folder or remove "
                             f"that run")


def collect(runs: list[tuple[str, Experiment]], out: Path) -> list[dict]:
    """Every run's ``result.json`` plus its run name and learning rate, in grid order."""
    results = []
    for name, exp in runs:
        try:
            results.append(json.loads((out / name / RESULT).read_text())
                           | {"run": name, "lr": exp.train.lr})
        except ValueError:
            raise InvalidFile(f"{out / name / RESULT} is not valid JSON") from None
    return results


def finished_line(name: str, r: dict) -> str:
    return (f"  {name:<44} test {r['main_metric']} "
            f"{r['final']['test/' + r['main_metric']]:.3f}  ({r['time']:.0f} s)")


def execute(sweep: Sweep, quiet: bool = False, ray: str | None = None) -> list[dict]:
    """Run every configuration of ``sweep`` not yet finished; return every run's summary
    (``result.json`` plus its run name and learning rate), in grid order.

    In local worker processes, or as Ray tasks on the cluster at ``ray`` (or at
    ``$FASTWEIGHTS_RAY``, so that commands built on sweeps, e.g. reproductions, run there
    too; ``local``: a cluster started here). Ctrl-C stops the workers at once; runs in
    flight resume from their last checkpoint when the sweep is started again."""
    ray = ray or os.environ.get(RAY_ENV) or None
    if ray is not None:
        from fastweights.train.ray_sweep import execute_on_ray

        return execute_on_ray(sweep, ray, quiet)
    runs = sweep.experiments()
    out = Path(sweep.out)
    check_folders(runs, out)
    with run_lock(out):
        todo = [(name, exp, out / name) for name, exp in runs
                if not (out / name / RESULT).exists()]
        workers = min(sweep.workers, max(len(todo), 1))
        if not quiet:
            where = (f"{workers} worker process(es)" if workers > 1 else "in this process")
            print(f"{out}: {len(runs)} run(s), {len(runs) - len(todo)} already finished, "
                  f"{where} x {runs[0][1].train.threads} thread(s)", flush=True)
        if todo and workers == 1:  # in this process: no worker to start
            for job in todo:
                name, r = _train_run(job)
                if not quiet:
                    print(finished_line(name, r), flush=True)
        elif todo:
            ctx = multiprocessing.get_context("spawn")
            with ctx.Pool(workers, initializer=_exit_with_parent,
                          initargs=(os.getpid(),)) as pool:
                try:
                    for name, r in pool.imap_unordered(_train_run, todo):
                        if not quiet:
                            print(finished_line(name, r), flush=True)
                except KeyboardInterrupt:
                    pool.terminate()
                    print(f"\ninterrupted: {out}: finished runs are kept, runs in flight "
                          f"resume from their last checkpoint when the sweep is run again",
                          file=sys.stderr, flush=True)
                    raise
        return collect(runs, out)


def run_sweep(sweep: Sweep, quiet: bool = False, ray: str | None = None) -> list[dict]:
    """Execute the sweep (``execute``), then write and return its table rows."""
    results = execute(sweep, quiet, ray)
    rows = summarize(results)
    out = Path(sweep.out)
    write_tables(rows, out)
    plot_sweep(rows, results, sweep.models, out)
    if not quiet:
        print("\n" + markdown_table(rows) + f"\n\nWrote {out / 'results.md'} and results.csv")
    return rows


def summarize(results: list[dict]) -> list[dict]:
    """One row per model × task × lr: the final main test metric over seeds (n, median,
    min, max, standard deviation), params, state size, mean time; ``best_lr`` marks each
    model × task's lr with the best median."""
    cells: dict[tuple, list[dict]] = {}
    for r in results:
        cells.setdefault((r["model"], r["task"], r["lr"]), []).append(r)
    rows = []
    for (model, task, lr), rs in cells.items():
        finals = [r["final"]["test/" + r["main_metric"]] for r in rs]
        higher = rs[0]["higher_is_better"]
        rows.append({"model": model, "task": task, "lr": lr, "metric": rs[0]["main_metric"],
                     "params": rs[0]["params"], "state_size": rs[0]["state_size"],
                     "higher_is_better": higher, "n": len(rs),
                     "median": statistics.median(finals), "min": min(finals),
                     "max": max(finals),
                     "std": statistics.stdev(finals) if len(finals) > 1 else 0.0,
                     "time": statistics.mean(r["time"] for r in rs),
                     "best_run": max(rs, key=lambda r: r["final"]["test/" + r["main_metric"]]
                                     * (1 if higher else -1))["run"],
                     "runs": [r["run"] for r in rs]})
    for row in rows:
        rivals = [r for r in rows if (r["model"], r["task"]) == (row["model"], row["task"])]
        sign = 1 if row["higher_is_better"] else -1
        row["best_lr"] = row is max(rivals, key=lambda r: sign * r["median"])
    return rows


COLUMNS = ("model", "task", "lr", "params", "state_size", "n", "metric", "median", "min",
           "max", "std", "time")
STATS = ("median", "min", "max", "std")


def markdown_table(rows: list[dict]) -> str:
    """The table; the best lr of each model × task is bold and starred."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        cells = [f"{r[c]:.3f}" if c in STATS else f"{r[c]:.0f}" if c == "time"
                 else (f"**{r[c]:g}** *" if r["best_lr"] else f"{r[c]:g}") if c == "lr"
                 else str(r[c]) for c in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_tables(rows: list[dict], out: Path) -> None:
    (out / "results.md").write_text(
        f"# Sweep results ({out})\n\nFinal test metric per model × task × learning rate over "
        f"n seeds: median, min, max, standard deviation; * marks the learning rate with the "
        f"best median. Curves (median over seeds, band min to max, at the best lr): "
        f"`learning_curves_<task>.png`; size plots: `metric_vs_params.png`, "
        f"`metric_vs_state_size.png`.\n\n{markdown_table(rows)}\n")
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[*COLUMNS, "best_lr", "best_run"])
        w.writeheader()
        w.writerows({c: r[c] for c in (*COLUMNS, "best_lr", "best_run")} for r in rows)


def plot_sweep(rows: list[dict], results: list[dict], models: list[str], out: Path) -> None:
    """Per task, each model's learning curve at its best lr (median over seeds, min–max
    band); the metric against parameters and state size. A model keeps its colour (its
    place in the sweep's model list) in every plot."""
    from fastweights.train.sweep_plots import plot_seed_bands, plot_size

    colours = {m: f"C{i % 10}" for i, m in enumerate(models)}
    for task in sorted({r["task"] for r in rows}):
        best = [r for r in rows if r["task"] == task and r["best_lr"]]
        plot_seed_bands({r["model"]: [out / name for name in r["runs"]] for r in best},
                        f"test/{best[0]['metric']}", colours,
                        out / f"learning_curves_{task}.png",
                        title=f"{task}: each model at its best lr")
    for x in ("params", "state_size"):
        plot_size([r for r in rows if r["best_lr"]], x, colours, out / f"metric_vs_{x}.png")
