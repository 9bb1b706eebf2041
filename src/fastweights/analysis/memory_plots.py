"""Figures and tables for the memory reproductions (STPN, wave-RNN, traveling waves, formal
languages). Each function reads run summaries or trained models and never trains.

Run summaries are the dicts ``fastweights.train.sweep.execute`` returns (``history`` is the
list of evaluation rows of ``metrics.jsonl``).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import Tensor, nn

from fastweights.analysis.plots import label_axes, save_figure


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
    label_axes(ax, xlabel, ylabel or metric, title)
    return save_figure(fig, path)


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
    return save_figure(fig, path)


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


def input_gradient_norms(model: nn.Module, x: Tensor, y: Tensor, source: int = 0) -> list[float]:
    """‖∂L_t/∂x_source‖ for every scored output step t (mean over the batch): how much the
    loss at step t still reaches back to the input at step ``source``. Scored steps are those
    whose targets are not NaN (regression tasks such as ``hds``)."""
    model.eval()
    x = x.clone().requires_grad_(True)
    out = model(x)[0]  # [B, T, d]
    steps = [t for t in range(x.shape[1]) if not torch.isnan(y[:, t]).any()]
    norms = []
    for t in steps:
        loss = (out[:, t] - y[:, t]).square().mean(-1).sum()
        (g,) = torch.autograd.grad(loss, x, retain_graph=True)
        norms.append(float(g[:, source].norm(dim=-1).mean()))
    return norms


def krylov_basis(w_hh: Tensor, w_in: Tensor, n_blocks: int) -> Tensor:
    """B = [W_in, W_hh W_in, …, W_hh^{s−1} W_in] ``[d_h, s·d_in]``: the Krylov basis in which
    Karuvally et al. read an Elman RNN's hidden state (block k holds the input of k steps
    ago when the RNN is a wave)."""
    blocks, b = [], w_in
    for _ in range(n_blocks):
        blocks.append(b)
        b = w_hh @ b
    return torch.cat(blocks, dim=1)


def krylov_wave_map(model: nn.Module, x: Tensor, n_blocks: int, d_in: int,
                    eps: float = 1e-3) -> Tensor:
    """How a small change of the first input vector travels through an Elman RNN's hidden
    state, read in the Krylov basis of its input weights: ``[n_blocks, T]``, the norm of the
    basis coefficients of block k at step t (mean over the batch), each step's column summing
    to 1. A traveling wave is the diagonal k = t."""
    cell = model.cell
    w_in, w_hh = cell.inp.weight[:, :d_in], cell.rec
    B = krylov_basis(w_hh.detach(), w_in.detach(), n_blocks)
    with torch.no_grad():
        _, _, base = model(x, return_intermediates=True)
        x2 = x.clone()
        x2[:, 0, :d_in] = x2[:, 0, :d_in] * (1 + eps)
        _, _, moved = model(x2, return_intermediates=True)
        dh = (moved.h - base.h) / eps  # [batch, T, d_h]
        coef = torch.einsum("kh,bth->btk", torch.linalg.pinv(B), dh)
        blocks = coef.reshape(*coef.shape[:2], n_blocks, d_in).norm(dim=-1)  # [b, T, s]
        heat = blocks.mean(0).T  # [s, T]
        return heat / heat.sum(0, keepdim=True).clamp_min(1e-12)


def plot_krylov_wave(heat: Tensor, path: str | Path, title: str = "") -> Path:
    """The Krylov-basis projection of an RNN's hidden state as a heat map (block vs step);
    a diagonal stripe is a traveling wave."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    im = ax.imshow(heat.numpy(), aspect="auto", origin="lower", cmap="viridis")
    ax.set_xlabel("time step t (perturbed input at t = 0)")
    ax.set_ylabel("Krylov block k (W_hh^k W_in)")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="share of the perturbation")
    return save_figure(fig, path)


def plot_gradient_norms(norms: dict[str, list[float]], lags: list[int], path: str | Path,
                        title: str = "") -> Path:
    """Norm of the state's gradient with respect to the first input, one line per model,
    against the lag (log scale)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, values in norms.items():
        ax.semilogy(lags, [max(v, 1e-12) for v in values], marker="o", ms=3, label=label)
    label_axes(ax, "lag from the first input (steps)", "‖∂state_t / ∂x_1‖", title)
    return save_figure(fig, path)


def _state_trajectory(inter) -> Tensor:
    """The recurrent state after each step, flattened to ``[B, T, n]``, from a model's
    intermediates (a wave field, or hidden and cell states)."""
    fields = ("field",) if hasattr(inter, "field") else ("h", "c")
    parts = [getattr(inter, f) for f in fields if hasattr(inter, f)]
    return torch.cat([p.flatten(2) for p in parts], dim=-1)


def state_gradient_norms(model: nn.Module, x: Tensor, source: int = 0,
                         eps: float = 1e-6) -> list[float]:
    """‖∂state_t/∂x_source‖_F for t = source … T−1 (mean over the batch): how strongly the
    recurrent state at step t still depends on the input at step ``source``, which bounds the
    gradient any loss at step t can send back to it. The Jacobian has one column per input
    feature, each computed by a float64 finite difference (no backward pass)."""
    model = copy.deepcopy(model).double().eval()
    x = x.double()
    with torch.no_grad():
        base = _state_trajectory(model(x, return_intermediates=True)[2])  # [B, T, n]
        sq = torch.zeros(base.shape[:2], dtype=torch.float64)
        for i in range(x.shape[-1]):
            moved = x.clone()
            moved[:, source, i] += eps
            d = (_state_trajectory(model(moved, return_intermediates=True)[2]) - base) / eps
            sq = sq + d.square().sum(-1)
    return [float(v) for v in sq.sqrt().mean(0)[source:]]
