"""MQAR with overwrites: recall the latest value of a reassigned key (forgetting).

As ``mqar`` (Arora et al. 2023), but the context holds N distinct keys plus ``n_overwrites``
later writes that reassign R of those keys to a new value (always different from the old
one). The writes are shuffled, with each reassignment after its key's first write. Every
distinct key is then queried once (power-law gaps, random filler, as in MQAR); the target is
the value of the key's **latest** write. A memory that only adds (sum rule) retrieves a blend
of old and new values; one that overwrites (delta rule, gated forms) can get it right.

Constraints: ``seq_len`` even, ``vocab_size > seq_len``, ``2·(n_pairs + n_overwrites) +
2·n_pairs <= seq_len``, ``n_overwrites <= n_pairs``.

>>> task = MQAROverwrite(MQAROverwriteConfig(vocab_size=20, seq_len=16, n_pairs=2,
...                                          n_overwrites=1))
>>> x, y = task.sample(1, torch.Generator().manual_seed(0))
>>> print(task.render(x[0], y[0]))
3:13 3:17 4:19 | 3→17 · · · · · 4→19 · · ·
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from fastweights.tasks._common import check, choose_distinct
from fastweights.tasks.base import IGNORE, Task, TaskConfig
from fastweights.tasks.budget import TrainBudget
from fastweights.tasks.mqar import place_queries, render_recall


@dataclass
class MQAROverwriteConfig(TaskConfig):
    vocab_size: int = 128
    seq_len: int = 64
    n_pairs: int = 8  # distinct keys
    n_overwrites: int = 4  # writes that reassign an earlier key
    power_a: float = 0.01


class MQAROverwrite(Task):
    name = "mqar-overwrite"
    Config = MQAROverwriteConfig
    budget = TrainBudget("deltanet", steps=500, batch_size=32, lr=1e-2, eval_every=250,
                         metric=0.834, chance=1 / 64, seconds=62)

    def __init__(self, config: MQAROverwriteConfig | None = None):
        super().__init__(config)
        self.input_size = self.output_size = self.config.vocab_size

    def _check(self, config: MQAROverwriteConfig) -> None:
        super()._check(config)
        V, T, N, R = config.vocab_size, config.seq_len, config.n_pairs, config.n_overwrites
        check(self.name, N >= 1, f"n_pairs must be >= 1, got {N}")
        check(self.name, 0 <= R <= N, f"n_overwrites must be in 0..n_pairs={N}, got {R}")
        check(self.name, T % 2 == 0, f"seq_len must be even, got {T}")
        check(self.name, 2 * (N + R) + 2 * N <= T,
              f"seq_len must be >= 2 * (n_pairs + n_overwrites) + 2 * n_pairs = "
              f"{2 * (N + R) + 2 * N}, got {T}")
        check(self.name, V > T, f"vocab_size must be > seq_len={T}, got {V}")
        check(self.name, N <= V // 2 - 1,
              f"vocab_size too small: n_pairs={N} distinct keys need vocab_size >= "
              f"{2 * N + 2}, got {V}")
        check(self.name, config.power_a > 0, f"power_a must be > 0, got {config.power_a}")

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        V, T = self.config.vocab_size, self.config.seq_len
        N, R = self.config.n_pairs, self.config.n_overwrites
        n_values = V - V // 2
        keys = choose_distinct(n, V // 2 - 1, N, generator, offset=1)  # [n, N]
        values = choose_distinct(n, n_values, N, generator)  # [n, N], offsets from V/2
        # keys[:, :R] are reassigned to a value that differs from their first one
        shift = torch.randint(1, n_values, (n, R), generator=generator)
        new_values = (values[:, :R] + shift) % n_values
        all_keys = torch.cat([keys, keys[:, :R]], dim=1)  # [n, N + R]
        all_values = torch.cat([values, new_values], dim=1) + V // 2
        # random write order in which each reassignment follows its first write
        prio = torch.rand(n, N + R, generator=generator)
        first, again = prio[:, :R], prio[:, N:]
        prio = torch.cat([torch.minimum(first, again), prio[:, R:N],
                          torch.maximum(first, again)], dim=1)
        order = prio.argsort(dim=1)
        all_keys, all_values = all_keys.gather(1, order), all_values.gather(1, order)
        latest = torch.cat([new_values, values[:, R:]], dim=1) + V // 2  # [n, N]
        context = torch.stack([all_keys, all_values], dim=2).flatten(1)  # [n, 2(N + R)]
        q_in, q_tgt = place_queries(keys, latest, T - context.shape[1], self.config.power_a,
                                    V, generator)
        inputs = torch.cat([context, q_in], dim=1)
        targets = torch.cat([torch.full_like(context, IGNORE), q_tgt], dim=1)
        return inputs, targets

    def render(self, inputs: Tensor, targets: Tensor) -> str:
        return render_recall(inputs, targets, 2 * (self.config.n_pairs + self.config.n_overwrites))
