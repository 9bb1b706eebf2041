"""Multi-query associative recall, MQAR (Arora et al. 2023, "Zoology", arXiv 2312.04927).

N key–value pairs ``k₁ v₁ … k_N v_N`` open the sequence; keys come from the lower half of
the vocabulary (``1 … V/2 − 1``), values from the upper half (``V/2 … V − 1``), both distinct
within a sequence. The rest of the sequence holds every key once more, at even offsets
``2g`` of the query region, where the gap indices g are drawn without replacement with
probability ∝ g^(a−1) (a power law, ``power_a = 0.01`` as in Zoology, so most queries come
soon after the context and a few come late). The target at a query key's position is its
value; every other position is unscored, and every non-query input position holds a random
token of the whole vocabulary (Zoology's ``random_non_queries``).

Constraints (Zoology's): ``seq_len`` even, ``vocab_size > seq_len``, ``4·n_pairs <= seq_len``.

>>> task = MQAR(MQARConfig(vocab_size=20, seq_len=16, n_pairs=3))
>>> x, y = task.sample(1, torch.Generator().manual_seed(0))
>>> print(task.render(x[0], y[0]))
3:13 4:19 5:14 | · · 5→14 · 3→13 · · · 4→19 ·
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from fastweights.tasks._common import check, choose_distinct, weighted_distinct
from fastweights.tasks.base import IGNORE, Task, TaskConfig
from fastweights.tasks.budget import TrainBudget


@dataclass
class MQARConfig(TaskConfig):
    vocab_size: int = 48
    seq_len: int = 32
    n_pairs: int = 6
    power_a: float = 0.01


def place_queries(keys: Tensor, answers: Tensor, region: int, power_a: float,
                  vocab_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """The query region of MQAR: ``keys[:, i]`` at offset ``2·g_i`` with power-law gaps g,
    random tokens elsewhere. Returns (inputs, targets), each ``[n, region]``."""
    n, Q = keys.shape
    space = region // 2
    weights = power_a * torch.arange(1, space + 1, dtype=torch.float64) ** (power_a - 1)
    gaps = weighted_distinct(n, weights, Q, generator)  # [n, Q]
    inputs = torch.randint(vocab_size, (n, region), generator=generator)
    targets = torch.full((n, region), IGNORE)
    inputs.scatter_(1, 2 * gaps, keys)
    targets.scatter_(1, 2 * gaps, answers)
    return inputs, targets


def render_recall(inputs: Tensor, targets: Tensor, context: int) -> str:
    """``k:v`` for the context pairs, ``k→v`` at query positions, ``·`` for filler."""
    x, y = inputs.tolist(), targets.tolist()
    writes = " ".join(f"{k}:{v}" for k, v in zip(x[0:context:2], x[1:context:2], strict=False))
    rest = " ".join(f"{a}→{b}" if b != IGNORE else "·"
                    for a, b in zip(x[context:], y[context:], strict=False))
    return f"{writes} | {rest}"


class MQAR(Task):
    name = "mqar"
    Config = MQARConfig
    budget = TrainBudget("deltanet", steps=500, batch_size=32, lr=1e-2, eval_every=250,
                         metric=0.997, chance=1 / 24, seconds=70)

    def __init__(self, config: MQARConfig | None = None):
        super().__init__(config)
        self.input_size = self.output_size = self.config.vocab_size

    def _check(self, config: MQARConfig) -> None:
        super()._check(config)
        V, T, N = config.vocab_size, config.seq_len, config.n_pairs
        check(self.name, N >= 1, f"n_pairs must be >= 1, got {N}")
        check(self.name, T % 2 == 0, f"seq_len must be even, got {T}")
        check(self.name, 4 * N <= T,
              f"seq_len must be >= 4 * n_pairs (context + queries), got seq_len={T}, "
              f"n_pairs={N}")
        check(self.name, V > T, f"vocab_size must be > seq_len={T}, got {V}")
        check(self.name, N <= V // 2 - 1,
              f"vocab_size too small: n_pairs={N} distinct keys need vocab_size >= "
              f"{2 * N + 2}, got {V}")
        check(self.name, config.power_a > 0, f"power_a must be > 0, got {config.power_a}")

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        V, T, N = self.config.vocab_size, self.config.seq_len, self.config.n_pairs
        keys = choose_distinct(n, V // 2 - 1, N, generator, offset=1)  # [n, N]
        values = choose_distinct(n, V - V // 2, N, generator, offset=V // 2)  # [n, N]
        context = torch.stack([keys, values], dim=2).flatten(1)  # [n, 2N]
        q_in, q_tgt = place_queries(keys, values, T - 2 * N, self.config.power_a, V, generator)
        inputs = torch.cat([context, q_in], dim=1)
        targets = torch.cat([torch.full_like(context, IGNORE), q_tgt], dim=1)
        return inputs, targets

    def render(self, inputs: Tensor, targets: Tensor) -> str:
        return render_recall(inputs, targets, 2 * self.config.n_pairs)
