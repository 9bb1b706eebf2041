"""Figures drawn from run folders (``metrics.jsonl``); plotting never trains."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt


def read_metrics(run_dir: str | Path) -> list[dict]:
    """The evaluation rows of a run, in order."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"no metrics.jsonl in run folder {run_dir}")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_learning_curves(runs: dict[str, str | Path], metric: str, path: str | Path,
                         title: str = "") -> Path:
    """One line per run: ``metric`` (a key of metrics.jsonl, e.g. ``test/accuracy``) vs step."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, run_dir in runs.items():
        rows = read_metrics(run_dir)
        ax.plot([r["step"] for r in rows], [r[metric] for r in rows], marker="o", ms=3,
                label=label)
    ax.set_xlabel("training step")
    ax.set_ylabel(metric)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_metric_vs_size(rows: list[dict], x: str, path: str | Path) -> Path:
    """The median final metric of each model (best learning rate) against ``x`` (``params``
    or ``state_size``), one panel per task; rows as written to a sweep's results.csv."""
    task_names = sorted({r["task"] for r in rows})
    fig, axes = plt.subplots(1, len(task_names), figsize=(5 * len(task_names), 4), squeeze=False)
    for ax, task in zip(axes[0], task_names, strict=True):
        best: dict[str, dict] = {}
        for r in rows:
            sign = 1 if r["higher_is_better"] else -1
            if r["task"] == task and (r["model"] not in best
                                      or sign * r["median"] > sign * best[r["model"]]["median"]):
                best[r["model"]] = r
        for model, r in best.items():
            ax.scatter(r[x], r["median"], label=model)
        ax.set_xscale("log")
        ax.set_xlabel(x.replace("_", " ") + (" (floats)" if x == "state_size" else ""))
        metric = next(iter(best.values()))["metric"]
        ax.set_ylabel(f"test {metric} (median over seeds)")
        ax.set_title(task)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
