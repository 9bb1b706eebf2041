"""History-dependent systems (Karuvally, Sejnowski & Siegelmann 2024, "Hidden Traveling Waves
bind Working Memory Variables in Recurrent Neural Networks").

The input phase shows s random ±1 vectors x₁ … x_s of dimension d (one per step); then,
during a horizon of H steps with no input but a "go" flag, the model must produce
y(t) = F(y(t−1), …, y(t−s)), where the history starts as y(1 … s) = x₁ … x_s. The map F
needs the last s vectors at every step, so the model must keep a sliding window of s
vectors in memory (what the traveling wave of the paper does). Systems (``system``):

- ``repeat-copy``: y(t) = y(t−s), the s vectors repeated over and over;
- ``signed-selection``: y_i(t) = σ_i · y_{j_i}(t−ℓ_i), a fixed signed selection of one
  component of one of the previous s vectors per output component (lags ℓ_i ∈ 1…s, sources
  j_i, signs σ_i drawn once from ``system_seed``); repeat-copy is the case ℓ = s, j = i,
  σ = +1;
- ``fibonacci``: the generalised Fibonacci recurrence y(t) = y(t−1) + … + y(t−s) taken
  mod 2 per component, i.e. in the ±1 code the product y(t−1) ⊙ … ⊙ y(t−s). (The real-valued
  sum grows like 2ᵗ, which no MSE-trained model can follow over a 100-step horizon; the
  mod-2 form keeps every target ±1 and every past vector relevant.)

Inputs ``[B, s+H, d+1]`` (the vector, then the go flag, 1 during the horizon). Targets
``[B, s+H, d]``, NaN during the input phase. Loss: MSE (as in the paper); metrics: ``mse``,
``accuracy`` (sign of each output component) and ``sequence_accuracy`` (every sign of the
horizon right; the main metric). The paper trains with a curriculum of horizons 10 → 100;
``long_horizon`` adds a ``test_long`` set with that horizon.

>>> task = HDS(HDSConfig(dim=3, n_vectors=3, horizon=4))
>>> x, y = task.sample(1, torch.Generator().manual_seed(4))
>>> print(task.render(x[0], y[0]))
--+ ++- +-- | --+ ++- +-- --+
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from fastweights.tasks._common import check
from fastweights.tasks.base import RegressionTask, TaskConfig, masked_mse
from fastweights.tasks.budget import TrainBudget

SYSTEMS = ("repeat-copy", "signed-selection", "fibonacci")


@dataclass
class HDSConfig(TaskConfig):
    dim: int = 8  # d
    n_vectors: int = 8  # s
    horizon: int = 10  # H
    system: str = "repeat-copy"
    system_seed: int = 0  # draws F for signed-selection
    long_horizon: int | None = None  # a test_long set with this horizon


class HDS(RegressionTask):
    name = "hds"
    Config = HDSConfig
    budget = TrainBudget("deltanet", steps=300, batch_size=32, lr=1e-2,
                         metric=0.9965, chance=0.0, seconds=30)
    main_metric = "sequence_accuracy"
    higher_is_better = True

    def __init__(self, config: HDSConfig | None = None):
        super().__init__(config)
        c = self.config
        self.input_size, self.output_size = c.dim + 1, c.dim
        g = torch.Generator().manual_seed(c.system_seed)
        if c.system == "signed-selection":
            self.lags = torch.randint(1, c.n_vectors + 1, (c.dim,), generator=g)
            self.sources = torch.randint(c.dim, (c.dim,), generator=g)
            self.signs = torch.randint(2, (c.dim,), generator=g) * 2.0 - 1.0

    def _check(self, config: HDSConfig) -> None:
        super()._check(config)
        for field in ("dim", "n_vectors", "horizon"):
            value = getattr(config, field)
            check(self.name, value >= 1, f"{field} must be >= 1, got {value}")
        check(self.name, config.system in SYSTEMS,
              f"system must be one of {SYSTEMS}, got {config.system!r}")
        if config.long_horizon is not None:
            check(self.name, config.long_horizon >= 1,
                  f"long_horizon must be >= 1, got {config.long_horizon}")

    def step(self, seq: Tensor, t: int) -> Tensor:
        """F at step ``t`` of the time-major ``seq`` ``[T, n, d]`` (steps ``t−s … t−1``
        filled): ``[n, d]``."""
        s, system = self.config.n_vectors, self.config.system
        if system == "repeat-copy":
            return seq[t - s]
        if system == "fibonacci":
            return seq[t - s: t].prod(dim=0)
        return self.signs * seq[t - self.lags, :, self.sources].T

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        return self._sample(n, generator, self.config.horizon)

    def _sample(self, n: int, generator: torch.Generator, horizon: int) -> tuple[Tensor, Tensor]:
        d, s = self.config.dim, self.config.n_vectors
        seq = torch.empty(s + horizon, n, d)
        seq[:s] = (torch.randint(2, (n, s, d), generator=generator) * 2.0 - 1.0).transpose(0, 1)
        for t in range(s, s + horizon):
            seq[t] = self.step(seq, t)
        seq = seq.transpose(0, 1).contiguous()  # [n, s + H, d]
        inputs = torch.zeros(n, s + horizon, d + 1)
        inputs[:, :s, :d] = seq[:, :s]
        inputs[:, s:, d] = 1.0
        targets = seq.clone()
        targets[:, :s] = float("nan")
        return inputs, targets

    def eval_sets(self) -> dict[str, tuple[Tensor, Tensor]]:
        sets = super().eval_sets()
        if self.config.long_horizon is not None:
            sets["test_long"] = self.fixed_set(
                "test_long", self.config.test_seed + 2,
                lambda g: self._sample(self.config.test_size, g, self.config.long_horizon))
        return sets

    def metrics(self, outputs: Tensor, targets: Tensor) -> dict[str, float]:
        scored = ~torch.isnan(targets)
        right = (torch.sign(outputs) == targets) | ~scored
        return {
            "mse": float(masked_mse(outputs, targets)),
            "accuracy": float(right[scored].float().mean()),
            "sequence_accuracy": float(right.flatten(1).all(dim=1).float().mean()),
        }

    def render(self, inputs: Tensor, targets: Tensor) -> str:
        def vec(v: Tensor) -> str:
            return "".join("+" if e > 0 else "-" for e in v.tolist())

        s = self.config.n_vectors
        shown = " ".join(vec(v) for v in inputs[:s, :-1])
        wanted = " ".join(vec(v) for v in targets[s:])
        return f"{shown} | {wanted}"
