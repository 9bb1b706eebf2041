"""Associative retrieval (Ba et al. 2016; the STPN paper's one-shot binding task).

K key–value pairs (keys: distinct letters, values: digits), then ``??``, then one of the keys;
the target, scored at the last position only, is that key's value:

    c9k8j3f1??c  →  9

Vocabulary: ``a``–``z`` are ids 0–25, ``0``–``9`` are ids 26–35, ``?`` is 36 (37 symbols, as
in the STPN paper's one-hot input). The output classes are the ten digits.

>>> task = AssocRetrieval(AssocRetrievalConfig(n_pairs=4))
>>> x, y = task.sample(2, torch.Generator().manual_seed(0))
>>> x.shape, y.shape
(torch.Size([2, 11]), torch.Size([2, 11]))
>>> task.render(x[0], y[0])
'm3c1d1s0??s -> 0'
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import torch
from torch import Tensor

from fastweights.tasks.base import IGNORE, Task, TaskConfig
from fastweights.tasks.budget import TrainBudget

LETTERS, DIGITS = 26, 10
QUERY_MARK = LETTERS + DIGITS
SYMBOLS = string.ascii_lowercase + string.digits + "?"


@dataclass
class AssocRetrievalConfig(TaskConfig):
    n_pairs: int = 4


class AssocRetrieval(Task):
    name = "assoc-retrieval"
    Config = AssocRetrievalConfig
    budget = TrainBudget("deltanet", steps=1000, batch_size=64, lr=1e-2,
                         metric=0.9995, chance=1 / 10, seconds=97)
    input_size = len(SYMBOLS)
    output_size = DIGITS

    def _check(self, config: AssocRetrievalConfig) -> None:
        super()._check(config)
        if not 1 <= config.n_pairs <= LETTERS:
            raise ValueError(f"assoc-retrieval: n_pairs must be in 1..{LETTERS} (distinct "
                             f"letters as keys), got {config.n_pairs}")

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        K = self.config.n_pairs
        keys = torch.rand(n, LETTERS, generator=generator).argsort(dim=1)[:, :K]  # [n, K]
        values = torch.randint(DIGITS, (n, K), generator=generator)  # [n, K]
        which = torch.randint(K, (n,), generator=generator)
        rows = torch.arange(n)
        pairs = torch.stack([keys, values + LETTERS], dim=2).flatten(1)  # [n, 2K]
        marks = torch.full((n, 2), QUERY_MARK)
        inputs = torch.cat([pairs, marks, keys[rows, which, None]], dim=1)  # [n, 2K + 3]
        targets = torch.full_like(inputs, IGNORE)
        targets[:, -1] = values[rows, which]
        return inputs, targets

    def render(self, inputs: Tensor, targets: Tensor) -> str:
        text = "".join(SYMBOLS[i] for i in inputs.tolist())
        return f"{text} -> {int(targets[-1])}"
