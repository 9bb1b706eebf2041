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
