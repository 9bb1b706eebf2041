"""Figures of the fast-weight reproductions (capacity, negative eigenvalues, recall vs state).

Each function draws one figure from result rows (plain dicts read from the runs' summaries);
none of them trains.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt


def plot_capacity_vs_keys(rows: list[dict], path: str | Path, title: str = "") -> Path:
    """Test loss and accuracy against the number of stored keys S, one line per memory.

    ``rows``: dicts with ``label``, ``S``, ``loss``, ``accuracy`` and, optionally, ``d_dot``
    (drawn as a dotted vertical line in the line's colour).
    """
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    labels = list(dict.fromkeys(r["label"] for r in rows))
    for i, label in enumerate(labels):
        mine = sorted((r for r in rows if r["label"] == label), key=lambda r: r["S"])
        color = f"C{i}"
        for ax, key in zip(axes, ("loss", "accuracy"), strict=True):
            ax.plot([r["S"] for r in mine], [r[key] for r in mine], marker="o", color=color,
                    label=label)
            if mine[0].get("d_dot"):
                ax.axvline(mine[0]["d_dot"], color=color, ls=":", alpha=0.7)
    for ax, key in zip(axes, ("test loss (cross-entropy)", "test accuracy"), strict=True):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("stored keys S (dotted: feature dimension d_dot)")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
    axes[1].set_ylim(-0.02, 1.02)
    axes[1].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_accuracy_by_length(rows: list[dict], path: str | Path, title: str = "") -> Path:
    """Scaled accuracy on the training lengths and on the longer test lengths, one point per
    run, grouped by variant. ``rows``: dicts with ``label``, ``seed``, ``lr``, ``test`` and
    ``test_long``."""
    fig, ax = plt.subplots(figsize=(6, 4))
    labels = list(dict.fromkeys(r["label"] for r in rows))
    for i, label in enumerate(labels):
        mine = [r for r in rows if r["label"] == label]
        for j, key in enumerate(("test", "test_long")):
            x = [2 * i + j + 0.08 * (k - len(mine) / 2) for k in range(len(mine))]
            ax.scatter(x, [r[key] for r in mine], color=f"C{i}", marker="o" if j == 0 else "s",
                       label=f"{label}: {'train lengths' if j == 0 else 'longer lengths'}")
    ax.set_xticks([2 * i + j for i in range(len(labels)) for j in range(2)])
    ax.set_xticklabels([f"{lab}\n{part}" for lab in labels for part in ("train len",
                                                                        "long")], fontsize=8)
    ax.set_ylabel("scaled accuracy (0 = chance)")
    ax.set_ylim(-0.1, 1.05)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_recall_vs_state_size(rows: list[dict], path: str | Path, title: str = "") -> Path:
    """MQAR accuracy against recurrent state size (floats per sequence), one line per model
    across widths. ``rows``: dicts with ``model``, ``d_model``, ``state_size``, ``accuracy``."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for i, model in enumerate(dict.fromkeys(r["model"] for r in rows)):
        mine = sorted((r for r in rows if r["model"] == model), key=lambda r: r["state_size"])
        ax.plot([r["state_size"] for r in mine], [r["accuracy"] for r in mine], marker="o",
                color=f"C{i}", label=model)
        for r in mine:
            ax.annotate(f"d={r['d_model']}", (r["state_size"], r["accuracy"]), fontsize=7,
                        textcoords="offset points", xytext=(3, 3))
    ax.set_xscale("log")
    ax.set_xlabel("state size (floats per sequence)")
    ax.set_ylabel("MQAR test accuracy (best lr)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
