"""Figures and tables for the memory reproductions (STPN, wave-RNN, traveling waves, formal
languages). Each function reads run summaries or trained models and never trains.

Run summaries are the dicts ``fastweights.train.sweep.execute`` returns (``history`` is the
list of evaluation rows of ``metrics.jsonl``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
import torch
from torch import Tensor, nn

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def steps_to(history: list[dict], metric: str, threshold: float) -> int | None:
    """The first evaluated step at which ``metric`` reaches ``threshold`` (None: never)."""
    return next((r["step"] for r in history if r[metric] >= threshold), None)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A Markdown table; floats are written with 3 decimals, None as a dash."""
    def cell(v) -> str:
        return "—" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def plot_histories(series: dict[str, list[dict]], metric: str, path: str | Path, title: str = "",
                   ylabel: str | None = None, threshold: float | None = None,
                   x: str = "step", xlabel: str = "training step") -> Path:
    """One line per run: ``metric`` of each evaluation row against ``x``; an optional dashed
    threshold line (the claim's criterion)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, rows in series.items():
        ax.plot([r[x] for r in rows], [r[metric] for r in rows], marker="o", ms=3, label=label)
    if threshold is not None:
        ax.axhline(threshold, color="grey", ls="--", lw=1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel or metric)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_grouped_bars(groups: Sequence[str], bars: dict[str, Sequence[float]], path: str | Path,
                      ylabel: str, title: str = "") -> Path:
    """Grouped bar chart: one group per entry of ``groups``, one bar per key of ``bars``
    (its values aligned with ``groups``)."""
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(groups) * max(1, len(bars)) / 2), 4))
    width = 0.8 / max(1, len(bars))
    for i, (label, values) in enumerate(bars.items()):
        ax.bar([g + i * width for g in range(len(groups))], values, width, label=label)
    ax.set_xticks([g + 0.4 - width / 2 for g in range(len(groups))], groups)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.05)
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def synaptic_energy(model: nn.Module, x: Tensor) -> float:
    """Mean synaptic energy per step and sequence, E_t = Σ_ij |G_ij| z_j², of ``model`` on
    inputs ``x`` (the STPN paper's measure: synaptic efficacy times presynaptic activity²).

    The STPN reports its own E_t (normalised G̃ = W + F, z its input and previous output).
    For any other model, E is summed over every weight matrix it applies to an input: each
    ``nn.Linear``/``nn.LSTM`` input (found by hooks) and, for the cells that keep fast or
    plastic weights, the recurrent matrix plus that step's fast part (read from the
    intermediates)."""
    from fastweights.layers.plasticity import BaFastWeights, PlasticRNN
    from fastweights.layers.rnn import ElmanCell
    from fastweights.layers.stpn import STPN

    cell = getattr(model, "cell", None)
    model.eval()
    with torch.no_grad():
        if isinstance(cell, STPN):
            _, _, inter = model(x, return_intermediates=True)
            return float(inter.energy.mean())
        total = torch.zeros(())
        hooks = []
        head = getattr(model, "head", None)

        def on_linear(mod: nn.Module, inp: tuple, _out) -> None:
            nonlocal total
            a = inp[0]
            total = total + torch.einsum("...j,ij->", a.square(), mod.weight.abs())

        def on_lstm(mod: nn.LSTM, inp: tuple, out) -> None:
            nonlocal total
            a, h = inp[0], out[0]
            h_prev = torch.cat([torch.zeros_like(h[:, :1]), h[:, :-1]], 1)
            total = total + torch.einsum("btj,ij->", a.square(), mod.weight_ih_l0.abs())
            total = total + torch.einsum("btj,ij->", h_prev.square(), mod.weight_hh_l0.abs())

        for mod in model.modules():
            if mod is head:
                continue
            if isinstance(mod, nn.Linear):
                hooks.append(mod.register_forward_hook(on_linear))
            elif isinstance(mod, nn.LSTM):
                hooks.append(mod.register_forward_hook(on_lstm))
        try:
            _, _, inter = model(x, return_intermediates=True)
        finally:
            for h in hooks:
                h.remove()
        if isinstance(cell, ElmanCell | BaFastWeights | PlasticRNN):
            h = inter.h  # [B, T, d]
            h_prev = torch.cat([torch.zeros_like(h[:, :1]), h[:, :-1]], 1)
            total = total + torch.einsum("ij,btj->", cell.rec.abs(), h_prev.square())
        if isinstance(cell, BaFastWeights):
            # the fast weights A_t act on the inner-loop state, approximated by h_t
            total = total + torch.einsum("btij,btj->", inter.A.abs(), inter.h.square())
        if isinstance(cell, PlasticRNN):
            # step t uses W + α ⊙ Hebb_{t-1} on h_{t-1}; count the plastic part's excess
            hebb = torch.cat([torch.zeros_like(inter.hebb[:, :1]), inter.hebb[:, :-1]], 1)
            G = (cell.rec + cell.alpha * hebb).abs() - cell.rec.abs()
            total = total + torch.einsum("btij,btj->", G, h_prev.square())
        return float(total / (x.shape[0] * x.shape[1]))
