"""In-context linear regression solved by the update rules themselves (no training): the
Mesa rule's read is least squares, the delta rule is one gradient step per pair.

On ``icl-regression`` sequences (y_i = w·x_i / √d), each rule writes the pairs before i and
reads at x_i: at step i it writes (k, v) from pair i−1 and reads with q = x_i (read after
write, scale 1), so o_i predicts y_i from the pairs j < i.

    least squares   x_iᵀ ŵ_i, ŵ_i the minimum-norm fit to the pairs j < i (the task's answer)
    mesa_rule       k = x, v = y, γ = 1, β = 1, λ = 1e-6: H_kvᵀ (H_kk + λI)⁻¹ x_i, ridge
                    regression with a vanishing ridge (von Oswald et al. 2025)
    mesa_rule, CG   the same read by CG_STEPS conjugate-gradient iterations (the paper's
                    approximate read; exact from d iterations on)
    delta_rule      k = x/‖x‖, v = y/‖x‖, β = 1: W ← W + (y − W x) xᵀ/‖x‖² (normalised LMS,
                    one exact projection per pair; Schlag et al. 2021)
    sum_rule        k = x, v = y, o_i / i: the Hebbian mean (1/i) Σ_j y_j x_jᵀ x_i

``python -m fastweights.analysis.icl_rules [--out DIR]`` prints the mean squared error by the
number of pairs seen and draws it (``plot_icl_error_by_pairs``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from fastweights import ops
from fastweights.tasks.icl_regression import ICLRegression, ICLRegressionConfig

RIDGE = 1e-6
CG_STEPS = 2


def _shifted(x: Tensor) -> Tensor:
    """[n, N, ...] → the previous step's value at each step (0 at the first)."""
    return torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)


def icl_rule_errors(dim: int = 5, n_points: int = 20, n: int = 2000,
                    seed: int = 0) -> dict[str, list[float]]:
    """Mean squared error of each predictor at point i = 0 … N−1 (i pairs seen), over n
    sequences of ``icl-regression`` (fp64)."""
    task = ICLRegression(ICLRegressionConfig(dim=dim, n_points=n_points))
    inputs, targets = task.sample(n, torch.Generator().manual_seed(seed))
    xs, ys = inputs[:, 0::2, :dim].double(), inputs[:, 1::2, dim].double()
    truth, lsq = targets[:, 0::2, 0].double(), targets[:, 0::2, 1].double()
    q = xs[:, :, None]  # [n, N, 1, d]
    k, v = _shifted(xs)[:, :, None], _shifted(ys)[:, :, None, None]
    ones = torch.ones(n, n_points, 1, dtype=torch.float64)
    mesa, mesa_cg = (ops.mesa_rule(q, k, v, torch.zeros_like(ones), ones,
                                   torch.full_like(q, RIDGE), scale=1.0, cg_steps=steps)[0]
                     for steps in (None, CG_STEPS))
    norm = k.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    delta, _ = ops.delta_rule(q, F.normalize(k, dim=-1), v / norm, ones, scale=1.0)
    hebb, _ = ops.sum_rule(q, k, v, scale=1.0)
    seen = torch.arange(n_points, dtype=torch.float64).clamp(min=1)[None, :, None, None]
    preds = {"least squares": lsq, "mesa_rule": mesa[..., 0, 0],
             f"mesa_rule, {CG_STEPS} CG steps": mesa_cg[..., 0, 0],
             "delta_rule": delta[..., 0, 0], "sum_rule (mean)": (hebb / seen)[..., 0, 0]}
    return {name: (p - truth).square().mean(0).tolist() for name, p in preds.items()}


def plot_icl_error_by_pairs(errors: dict[str, list[float]], dim: int, path: str | Path
                            ) -> Path:
    """Mean squared error vs pairs seen, one line per predictor (log scale), with the
    dimension d marked: least squares is exact from d pairs on (noise-free data)."""
    import matplotlib.pyplot as plt

    from fastweights.analysis.plots import label_axes, save_figure

    fig, ax = plt.subplots(figsize=(6, 4))
    for (name, err), style in zip(errors.items(), ("-", "--", ":", "-", "-"), strict=False):
        ax.plot(range(len(err)), [max(e, 1e-16) for e in err], style, marker="o", ms=3,
                label=name)
    ax.axvline(dim, color="grey", lw=0.8, ls=":")
    ax.set_yscale("log")
    label_axes(ax, "pairs seen in context", "mean squared error",
               f"in-context linear regression, d = {dim}: the rules as regressors",
               legend_size=None)
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="the update rules as in-context regressors")
    p.add_argument("--dim", type=int, default=5)
    p.add_argument("--n-points", type=int, default=20)
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/icl-rules")
    a = p.parse_args(argv)
    errors = icl_rule_errors(a.dim, a.n_points, a.n, a.seed)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "errors.json").write_text(json.dumps(errors))
    fig = plot_icl_error_by_pairs(errors, a.dim, out / "icl-rules.png")
    names = list(errors)
    print("| pairs seen | " + " | ".join(names) + " |")
    print("|---:|" + "---:|" * len(names))
    for i in range(a.n_points):
        print(f"| {i} | " + " | ".join(f"{errors[m][i]:.3g}" for m in names) + " |")
    print(f"figure: {fig}")


if __name__ == "__main__":
    main()
