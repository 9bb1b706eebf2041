"""Figures for the working-memory analyses: decoding accuracy over the trial's periods, and
heat maps of whatever memory a model exposes (fast weights per head, STPN traces, STSP
efficacies, wave fields). Each function reads tensors already computed and never trains."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import Tensor

from fastweights.analysis.decoding import Decoding

PERIOD_COLOURS = {"fixation": "#f2f2f2", "sample": "#d9ead3", "delay": "#fff2cc",
                  "test": "#dae8fc"}


def _shade_periods(ax, periods: dict[str, tuple[int, int]], dt: float) -> None:
    for name, (a, b) in periods.items():
        ax.axvspan(a * dt, b * dt, color=PERIOD_COLOURS.get(name, "#eeeeee"), zorder=0)
        ax.text((a + b) / 2 * dt, 1.02, name, ha="center", va="bottom", fontsize=8,
                transform=ax.get_xaxis_transform())


def plot_decoding_over_time(curves: dict[str, Sequence[Decoding]],
                            periods: dict[str, tuple[int, int]], path: str | Path,
                            dt: float = 1.0, title: str = "",
                            unit: str = "ms") -> Path:
    """Decoding accuracy against time, one line per source (mean over networks, thin lines
    for each), the trial periods shaded, the shuffle null's 95th percentile dashed."""
    fig, ax = plt.subplots(figsize=(7, 4))
    _shade_periods(ax, periods, dt)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, runs) in enumerate(curves.items()):
        colour = colours[i % len(colours)]
        t = runs[0].steps.float() * dt
        acc = torch.stack([r.accuracy for r in runs])
        for row in acc if len(runs) > 1 else []:
            ax.plot(t, row, color=colour, lw=0.6, alpha=0.35)
        ax.plot(t, acc.mean(0), color=colour, lw=2, label=f"{label} (n={len(runs)})")
        chance = torch.stack([r.chance_hi for r in runs]).mean(0)
        ax.plot(t, chance, color=colour, lw=1, ls="--", alpha=0.7)
    ax.plot([], [], color="grey", ls="--", lw=1, label="shuffled labels, 95th percentile")
    ax.set_ylim(0, 1.05)
    ax.set_xlim(0, sum(b - a for a, b in periods.values()) * dt if periods else None)
    ax.set_xlabel(f"time in trial ({unit})")
    ax.set_ylabel("decoding accuracy (cross-validated)")
    ax.set_title(title, pad=16)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_memory_field(name: str, field: Tensor, path: str | Path, n_snapshots: int = 6,
                      title: str = "") -> Path:
    """One memory tensor of one sequence over time as heat maps.

    field [T, d]: one image, unit × time. field [T, a, b]: ``n_snapshots`` matrices at
    evenly spaced steps. field [T, H, a, b] (fast weights per head; any further leading
    axes are folded into H): one row of snapshots per head.
    """
    field = field.detach().float().cpu()
    if field.dim() < 2:
        raise ValueError(f"{name}: need a field [T, ...] with at least one feature axis, "
                         f"got {tuple(field.shape)}")
    T = field.shape[0]
    if field.dim() == 2:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        im = ax.imshow(field.T.numpy(), aspect="auto", origin="lower", cmap="viridis",
                       interpolation="nearest")
        ax.set_xlabel("step")
        ax.set_ylabel("unit")
        fig.colorbar(im, ax=ax)
    else:
        if field.dim() == 3:
            field = field[:, None]
        field = field.reshape(T, -1, *field.shape[-2:])
        heads = field.shape[1]
        steps = torch.linspace(0, T - 1, min(n_snapshots, T)).round().long().unique()
        fig, axes = plt.subplots(heads, len(steps), figsize=(1.8 * len(steps), 1.8 * heads),
                                 squeeze=False)
        lim = float(field.abs().max()) or 1.0
        for h in range(heads):
            for j, t in enumerate(steps.tolist()):
                ax = axes[h][j]
                im = ax.imshow(field[t, h].numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim,
                               interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if h == 0:
                    ax.set_title(f"t = {t}", fontsize=8)
                if j == 0:
                    ax.set_ylabel(f"head {h}" if heads > 1 else "", fontsize=8)
        fig.colorbar(im, ax=axes, shrink=0.8)
    fig.suptitle(title or name, fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_bars_with_points(groups: Sequence[str], values: dict[str, Sequence[Sequence[float]]],
                          path: str | Path, ylabel: str, title: str = "",
                          line: float | None = None) -> Path:
    """Bars of the mean of each group, one bar per key of ``values`` (each a list over
    groups of per-network values), with every network drawn as a point."""
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(groups) * len(values) / 2), 4))
    width = 0.8 / max(1, len(values))
    for i, (label, per_group) in enumerate(values.items()):
        xs = [g + i * width for g in range(len(groups))]
        ax.bar(xs, [sum(v) / len(v) for v in per_group], width, label=label, alpha=0.7)
        for x, v in zip(xs, per_group, strict=True):
            ax.scatter([x] * len(v), v, color="k", s=8, zorder=3)
    if line is not None:
        ax.axhline(line, color="grey", ls="--", lw=1)
    ax.set_xticks([g + (len(values) - 1) * width / 2 for g in range(len(groups))], groups)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
