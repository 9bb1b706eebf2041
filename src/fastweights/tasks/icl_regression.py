"""In-context linear regression (Garg et al. 2022; von Oswald et al. 2023 on linear
attention and fast weights as in-context gradient descent).

Each sequence draws its own weight vector w ~ N(0, I_d) and N points x_i ~ N(0, I_d) with
y_i = w·x_i / √d + ε_i (ε ~ N(0, noise_std²); the 1/√d keeps y of unit variance). The
sequence interleaves x-tokens and y-tokens, ``x₁ y₁ x₂ y₂ … x_N y_N``, as feature vectors
of size d+1: an x-token is ``(x, 0)``, a y-token ``(0, …, 0, y)``. At each x-token the model
predicts that point's y from the pairs before it; y-tokens are unscored.

Targets ``[B, 2N, 2]``: channel 0 is the y to predict (NaN where unscored), channel 1 the
answer of least squares on the earlier pairs of the same sequence (the minimum-norm solution
while there are fewer than d pairs: the posterior mean under the Gaussian prior when
noise_std = 0). Loss: MSE on channel 0. Metrics: ``mse`` (the main metric, lower is
better), ``lsq_mse`` (least squares on the same positions) and ``excess_mse`` (their
difference: a model that has learnt least squares in context reaches 0).

>>> task = ICLRegression(ICLRegressionConfig(dim=2, n_points=3))
>>> x, y = task.sample(1, torch.Generator().manual_seed(0))
>>> print(task.render(x[0], y[0]))
x=(-2.18,+0.57) y=-2.49 [lsq +0.00]
x=(-1.08,-1.40) y=-0.89 [lsq -0.77]
x=(+0.40,+0.84) y=+0.27 [lsq +0.27]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from fastweights.tasks._common import check
from fastweights.tasks.base import RegressionTask, TaskConfig, masked_mse
from fastweights.tasks.budget import TrainBudget


@dataclass
class ICLRegressionConfig(TaskConfig):
    dim: int = 5  # d
    n_points: int = 20  # N pairs per sequence
    noise_std: float = 0.0


def least_squares_predictions(xs: Tensor, ys: Tensor, ridge: float = 1e-10) -> Tensor:
    """For each i, x_i · ŵ_i where ŵ_i is the minimum-norm least-squares fit to the pairs
    before i. xs ``[n, N, d]``, ys ``[n, N]`` (float64) → ``[n, N]`` (0 for i = 0).

    All prefixes at once: ŵ_i solves (Σ_{j<i} x_j x_jᵀ + λI) ŵ = Σ_{j<i} y_j x_j, which
    tends to the minimum-norm solution as λ → 0 (λ = 1e-10 in float64)."""
    n, N, d = xs.shape
    gram = torch.einsum("nti,ntj->ntij", xs, xs).cumsum(dim=1)  # [n, N, d, d]
    moment = (xs * ys[..., None]).cumsum(dim=1)  # [n, N, d]
    eye = ridge * torch.eye(d, dtype=xs.dtype)
    w = torch.linalg.solve(gram[:, :-1] + eye, moment[:, :-1, :, None])[..., 0]  # [n, N-1, d]
    preds = torch.zeros(n, N, dtype=xs.dtype)
    preds[:, 1:] = (xs[:, 1:] * w).sum(-1)
    return preds


class ICLRegression(RegressionTask):
    name = "icl-regression"
    Config = ICLRegressionConfig
    budget = TrainBudget("deltanet", steps=300, batch_size=32, lr=1e-2,
                         metric=0.288, chance=1.0, seconds=54)

    def __init__(self, config: ICLRegressionConfig | None = None):
        super().__init__(config)
        self.input_size, self.output_size = self.config.dim + 1, 1

    def _check(self, config: ICLRegressionConfig) -> None:
        super()._check(config)
        check(self.name, config.dim >= 1, f"dim must be >= 1, got {config.dim}")
        check(self.name, config.n_points >= 1, f"n_points must be >= 1, got {config.n_points}")
        check(self.name, config.noise_std >= 0,
              f"noise_std must be >= 0, got {config.noise_std}")

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        d, N = self.config.dim, self.config.n_points
        w = torch.randn(n, d, generator=generator, dtype=torch.float64)
        xs = torch.randn(n, N, d, generator=generator, dtype=torch.float64)
        ys = (xs @ w[..., None])[..., 0] / d ** 0.5
        ys = ys + self.config.noise_std * torch.randn(n, N, generator=generator,
                                                      dtype=torch.float64)
        inputs = torch.zeros(n, N, 2, d + 1, dtype=torch.float64)
        inputs[:, :, 0, :d] = xs
        inputs[:, :, 1, d] = ys
        targets = torch.full((n, N, 2, 2), float("nan"), dtype=torch.float64)
        targets[:, :, 0, 0] = ys
        targets[:, :, 0, 1] = least_squares_predictions(xs, ys)
        return inputs.flatten(1, 2).float(), targets.flatten(1, 2).float()

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        return masked_mse(outputs, targets[..., :1])

    def metrics(self, outputs: Tensor, targets: Tensor) -> dict[str, float]:
        mse = float(masked_mse(outputs, targets[..., :1]))
        lsq = float(masked_mse(targets[..., 1:], targets[..., :1]))
        return {"mse": mse, "lsq_mse": lsq, "excess_mse": mse - lsq}

    def render(self, inputs: Tensor, targets: Tensor) -> str:
        d = self.config.dim
        lines = []
        for t in range(0, inputs.shape[0], 2):
            x = ",".join(f"{v:+.2f}" for v in inputs[t, :d].tolist())
            y, lsq = targets[t].tolist()
            lines.append(f"x=({x}) y={y:+.2f} [lsq {lsq:+.2f}]")
        return "\n".join(lines)
