"""Copy after a delay (the copy task of Hochreiter & Schmidhuber 1997 and Arjovsky et al.
2016, as used by Keller et al. 2024 for the wave-RNN).

M symbols from ``1 … n_symbols`` (1–8 in the paper), then D−1 blanks, then the delimiter
(9), then M blanks during which the model must output the M symbols in order:

    inputs   s₁ … s_M  0 … 0  9  0 … 0
    targets  ·  …  ·   · … ·  ·  s₁ … s_M

Only the M recall steps are scored (cross-entropy on the recall steps, as in the paper). The
sequence has ``M + D + M`` steps; the paper sweeps D from 10 to 500. ``long_delay`` adds a
``test_long`` set with that delay, to test holding a sequence longer than in training.

>>> task = Copy(CopyConfig(n_copy=3, delay=4))
>>> x, y = task.sample(1, torch.Generator().manual_seed(0))
>>> print(task.render(x[0], y[0]))
5860009000 -> 586
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from fastweights.tasks._common import check
from fastweights.tasks.base import IGNORE, Task, TaskConfig
from fastweights.tasks.budget import TrainBudget


@dataclass
class CopyConfig(TaskConfig):
    n_symbols: int = 8
    n_copy: int = 10  # M
    delay: int = 10  # D: steps from the last symbol to the delimiter, inclusive
    long_delay: int | None = None  # a test_long set with this delay


class Copy(Task):
    name = "copy"
    Config = CopyConfig
    budget = TrainBudget("deltanet", steps=300, batch_size=32, lr=1e-2,
                         metric=0.764, chance=1 / 8, seconds=27)

    def __init__(self, config: CopyConfig | None = None):
        super().__init__(config)
        self.delim = self.config.n_symbols + 1
        self.input_size = self.output_size = self.config.n_symbols + 2

    def _check(self, config: CopyConfig) -> None:
        super()._check(config)
        check(self.name, config.n_symbols >= 2, f"n_symbols must be >= 2, got {config.n_symbols}")
        check(self.name, config.n_copy >= 1, f"n_copy must be >= 1, got {config.n_copy}")
        check(self.name, config.delay >= 1,
              f"delay must be >= 1 (the delimiter takes one step), got {config.delay}")
        if config.long_delay is not None:
            check(self.name, config.long_delay >= 1,
                  f"long_delay must be >= 1, got {config.long_delay}")

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        return self._sample(n, generator, self.config.delay)

    def _sample(self, n: int, generator: torch.Generator, delay: int) -> tuple[Tensor, Tensor]:
        M = self.config.n_copy
        symbols = torch.randint(1, self.config.n_symbols + 1, (n, M), generator=generator)
        inputs = torch.zeros((n, M + delay + M), dtype=torch.long)
        inputs[:, :M] = symbols
        inputs[:, M + delay - 1] = self.delim
        targets = torch.full_like(inputs, IGNORE)
        targets[:, -M:] = symbols
        return inputs, targets

    def eval_sets(self) -> dict[str, tuple[Tensor, Tensor]]:
        sets = super().eval_sets()
        if self.config.long_delay is not None:
            sets["test_long"] = self.fixed_set(
                "test_long", self.config.test_seed + 2,
                lambda g: self._sample(self.config.test_size, g, self.config.long_delay))
        return sets

    def render(self, inputs: Tensor, targets: Tensor) -> str:
        sep = "" if self.delim < 10 else " "  # one character per symbol when they fit
        answer = sep.join(str(t) for t in targets.tolist() if t != IGNORE)
        return sep.join(str(i) for i in inputs.tolist()) + f" -> {answer}"
