"""Selective copying (Poli et al. 2024, "Mechanistic Design and Scaling of Hybrid
Architectures", the MAD suite; after Gu & Dao's Mamba paper).

M data tokens sit at random positions of a context of L blanks (their order kept); after a
delimiter the model must emit the data tokens in order, ignoring the blanks: content-based
filtering, not a fixed delay. Next-token form, as in MAD: the sequence is
``context · | · t₁ … t_M`` and the model sees it shifted by one (the input at the delimiter
predicts t₁, the input t₁ predicts t₂, …); only those M predictions are scored.

Vocabulary: data tokens ``0 … n_symbols−1``, blank ``n_symbols``, delimiter
``n_symbols+1``; the output classes are the data tokens.

>>> task = SelectiveCopy(SelectiveCopyConfig(n_symbols=4, context_len=8, n_copy=3))
>>> x, y = task.sample(1, torch.Generator().manual_seed(0))
>>> print(task.render(x[0], y[0]))
03.....1|03 -> 031
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from fastweights.tasks._common import check, choose_distinct
from fastweights.tasks.base import IGNORE, Task, TaskConfig
from fastweights.tasks.budget import TrainBudget


@dataclass
class SelectiveCopyConfig(TaskConfig):
    n_symbols: int = 8
    context_len: int = 32  # L: blanks and data tokens before the delimiter
    n_copy: int = 8  # M: data tokens to copy


class SelectiveCopy(Task):
    name = "selective-copy"
    Config = SelectiveCopyConfig
    budget = TrainBudget("deltanet", steps=300, batch_size=32, lr=1e-2,
                         metric=0.957, chance=1 / 8, seconds=45)

    def __init__(self, config: SelectiveCopyConfig | None = None):
        super().__init__(config)
        self.blank, self.delim = self.config.n_symbols, self.config.n_symbols + 1
        self.input_size = self.config.n_symbols + 2
        self.output_size = self.config.n_symbols

    def _check(self, config: SelectiveCopyConfig) -> None:
        super()._check(config)
        check(self.name, config.n_symbols >= 2,
              f"n_symbols must be >= 2, got {config.n_symbols}")
        check(self.name, config.n_copy >= 1, f"n_copy must be >= 1, got {config.n_copy}")
        check(self.name, config.n_copy <= config.context_len,
              f"context_len must be >= n_copy={config.n_copy}, got {config.context_len}")

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        L, M = self.config.context_len, self.config.n_copy
        data = torch.randint(self.config.n_symbols, (n, M), generator=generator)  # [n, M]
        where = choose_distinct(n, L, M, generator).sort(dim=1).values  # [n, M]
        context = torch.full((n, L), self.blank).scatter(1, where, data)
        full = torch.cat([context, torch.full((n, 1), self.delim), data], dim=1)
        inputs, targets = full[:, :-1], full[:, 1:].clone()
        targets[:, :L] = IGNORE
        return inputs, targets

    def render(self, inputs: Tensor, targets: Tensor) -> str:
        symbols = [str(i) for i in range(self.config.n_symbols)] + [".", "|"]
        text = "".join(symbols[i] for i in inputs.tolist())
        answer = "".join(str(t) for t in targets.tolist() if t != IGNORE)
        return f"{text} -> {answer}"
