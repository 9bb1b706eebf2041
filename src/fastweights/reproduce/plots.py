"""The reproductions' figures: every point a median over seeds with a min–max error bar.
Plots read finished results and never train; one function per kind of figure."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fastweights.reproduce.stats import Spread


def _finish(fig, ax, path: Path, title: str, xlabel: str, ylabel: str) -> Path:
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def _yerr(spreads: Sequence[Spread]) -> np.ndarray:
    return np.array([[s.median - s.lo for s in spreads], [s.hi - s.median for s in spreads]])


def plot_bars(groups: Sequence[str], series: dict[str, Sequence[Spread]], path: Path,
              ylabel: str, title: str = "") -> Path:
    """Grouped bars: one group per entry of ``groups``, one bar per series (median, with a
    min–max error bar)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(5.0, 1.4 * len(groups) * len(series) / 2), 3.6))
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(groups))
    for i, (label, spreads) in enumerate(series.items()):
        ax.bar(x + (i - (len(series) - 1) / 2) * width, [s.median for s in spreads], width,
               yerr=_yerr(spreads), capsize=3, label=label)
    ax.set_xticks(x, list(groups))
    return _finish(fig, ax, path, title, "", ylabel)


def plot_lines(series: dict[str, Sequence[tuple[float, Spread]]], path: Path, xlabel: str,
               ylabel: str, title: str = "", logx: bool = False, logy: bool = False,
               threshold: float | None = None) -> Path:
    """One line per series through (x, median) points, each with a min–max error bar."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    for label, points in series.items():
        points = sorted(points, key=lambda p: p[0])
        ax.errorbar([p[0] for p in points], [p[1].median for p in points],
                    yerr=_yerr([p[1] for p in points]), marker="o", capsize=3, label=label)
    if threshold is not None:
        ax.axhline(threshold, color="grey", ls=":", lw=1)
    if logx:
        ax.set_xscale("log", base=2)
    if logy:
        ax.set_yscale("log")
    return _finish(fig, ax, path, title, xlabel, ylabel)


def plot_curves(series: dict[str, Sequence[list[dict]]], metric: str, path: Path,
                ylabel: str, title: str = "", threshold: float | None = None,
                x: str = "step") -> Path:
    """Learning curves: per series (a list of per-seed histories) the median of ``metric``
    at each evaluated ``x`` (training step, or agent-steps in RL) with a min–max band. A run
    stopped early holds its last value."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    for label, histories in series.items():
        steps = sorted({h[x] for hist in histories for h in hist})
        grid = np.array([[next((h[metric] for h in reversed(hist) if h[x] <= s),
                                hist[0][metric]) for s in steps] for hist in histories])
        line, = ax.plot(steps, np.median(grid, axis=0), label=f"{label} (n={len(histories)})")
        ax.fill_between(steps, grid.min(axis=0), grid.max(axis=0), alpha=0.2,
                        color=line.get_color())
    if threshold is not None:
        ax.axhline(threshold, color="grey", ls=":", lw=1)
    return _finish(fig, ax, path, title, x.replace("_", "-"), ylabel)
