"""Plots of a sweep: learning curves with seed bands, the metric against model size.

Colours are given per model by the caller, so a model looks the same in every plot.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from fastweights.analysis.plots import read_metrics


def plot_seed_bands(runs: dict[str, list[Path]], metric: str, colours: dict[str, str],
                    path: Path, title: str = "") -> Path:
    """Per label, the median of ``metric`` over its runs against the step, shaded from the
    minimum to the maximum (steps common to all its runs)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, dirs in runs.items():
        curves = [{r["step"]: r[metric] for r in read_metrics(d)} for d in dirs]
        steps = sorted(set.intersection(*(set(c) for c in curves)))
        values = np.array([[c[s] for s in steps] for c in curves])
        colour = colours.get(label)
        ax.plot(steps, np.median(values, axis=0), marker="o", ms=3, color=colour,
                label=f"{label} (n={len(dirs)})")
        if len(dirs) > 1:
            ax.fill_between(steps, values.min(axis=0), values.max(axis=0), color=colour,
                            alpha=0.2, linewidth=0)
    ax.set_xlabel("training step")
    ax.set_ylabel(f"{metric} (median, min–max over seeds)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_size(rows: list[dict], x: str, colours: dict[str, str], path: Path) -> Path:
    """Each row's median final metric against ``x`` (``params`` or ``state_size``), with a
    min–max bar; one panel per task. ``rows``: summary rows (one per model, its best lr)."""
    task_names = sorted({r["task"] for r in rows})
    fig, axes = plt.subplots(1, len(task_names), figsize=(5 * len(task_names), 4), squeeze=False)
    for ax, task in zip(axes[0], task_names, strict=True):
        task_rows = [r for r in rows if r["task"] == task]
        for r in task_rows:
            ax.errorbar(r[x], r["median"], yerr=[[r["median"] - r["min"]],
                                                 [r["max"] - r["median"]]],
                        fmt="o", capsize=3, color=colours.get(r["model"]),
                        label=f"{r['model']} (lr {r['lr']:g}, n={r['n']})")
        ax.set_xscale("log")
        ax.set_xlabel(x.replace("_", " ") + (" (floats)" if x == "state_size" else ""))
        ax.set_ylabel(f"test {task_rows[0]['metric']} (median, min–max)")
        ax.set_title(task)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
