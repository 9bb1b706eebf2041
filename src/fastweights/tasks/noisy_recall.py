"""Noisy in-context recall (Poli et al. 2024, the MAD suite).

Each sequence draws its own mapping from the ``n_keys`` keys to values, then shows
``n_pairs`` key–value pairs drawn uniformly from it, with ``n_noise_tokens`` tokens of a
separate noise vocabulary inserted between pairs at random places. Next-token form: at a
key's position the target is the token that follows it, its value. A key's value can only be
known from an earlier pair, so only the positions of keys seen before are scored (recall,
not guessing); noise is never a target.

Vocabulary: keys ``0 … K−1``, values ``K … K+V−1``, noise ``K+V … K+V+n_noise−1``; the output
classes are the whole vocabulary (targets are value tokens).

>>> task = NoisyRecall(NoisyRecallConfig(n_keys=3, n_values=3, n_noise=2, n_pairs=5,
...                                      n_noise_tokens=2))
>>> x, y = task.sample(1, torch.Generator().manual_seed(0))
>>> print(task.render(x[0], y[0]))
a:2 b:0 a→2 * b→0 b→0 *
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from fastweights.tasks._common import check, row_permutations
from fastweights.tasks.base import IGNORE, Task, TaskConfig
from fastweights.tasks.budget import TrainBudget

NOISE_MARKS = "*#@%&$+="


@dataclass
class NoisyRecallConfig(TaskConfig):
    n_keys: int = 8
    n_values: int = 8
    n_noise: int = 4  # size of the noise vocabulary
    n_pairs: int = 24
    n_noise_tokens: int = 16


def seen_before(keys: Tensor, n_keys: int) -> Tensor:
    """``[n, P]`` bool: whether ``keys[:, p]`` occurred at an earlier index of its row."""
    counts = F.one_hot(keys, n_keys).cumsum(dim=1)  # [n, P, K]
    return counts.gather(2, keys[..., None])[..., 0] > 1


class NoisyRecall(Task):
    name = "noisy-recall"
    Config = NoisyRecallConfig
    budget = TrainBudget("deltanet", steps=300, batch_size=32, lr=1e-2,
                         metric=1.0, chance=1 / 8, seconds=59)

    def __init__(self, config: NoisyRecallConfig | None = None):
        super().__init__(config)
        c = self.config
        self.input_size = self.output_size = c.n_keys + c.n_values + c.n_noise

    def _check(self, config: NoisyRecallConfig) -> None:
        super()._check(config)
        for field, lo in (("n_keys", 1), ("n_values", 2), ("n_noise", 1), ("n_pairs", 2),
                          ("n_noise_tokens", 0)):
            value = getattr(config, field)
            check(self.name, value >= lo, f"{field} must be >= {lo}, got {value}")
        check(self.name, config.n_keys <= len(string.ascii_lowercase),
              f"n_keys must be <= 26, got {config.n_keys}")
        check(self.name, config.n_noise <= len(NOISE_MARKS),
              f"n_noise must be <= {len(NOISE_MARKS)}, got {config.n_noise}")

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        K, V, P, M = (self.config.n_keys, self.config.n_values, self.config.n_pairs,
                      self.config.n_noise_tokens)
        mapping = torch.randint(V, (n, K), generator=generator) + K  # [n, K]
        keys = torch.randint(K, (n, P), generator=generator)  # [n, P], in time order
        values = mapping.gather(1, keys)
        noise = torch.randint(self.config.n_noise, (n, P + M), generator=generator) + K + V
        # P pair units (2 tokens) and M noise units (1 token) in random order
        is_pair = row_permutations(n, P + M, generator) < P  # [n, P + M]
        width = 1 + is_pair.long()
        start = width.cumsum(dim=1) - width
        rank = (is_pair.long().cumsum(dim=1) - 1).clamp(min=0)  # pair index, time order
        first = torch.where(is_pair, keys.gather(1, rank), noise)
        second = torch.where(is_pair, values.gather(1, rank), noise)
        inputs = torch.empty((n, 2 * P + M), dtype=torch.long)
        inputs.scatter_(1, start + is_pair.long(), second)
        inputs.scatter_(1, start, first)
        scored = torch.where(is_pair, seen_before(keys, K).gather(1, rank),
                             torch.zeros((), dtype=torch.bool))
        targets = torch.full_like(inputs, IGNORE)
        targets.scatter_(1, start, torch.where(scored, second, IGNORE))
        return inputs, targets

    def render(self, inputs: Tensor, targets: Tensor) -> str:
        K, V = self.config.n_keys, self.config.n_values
        x, y = inputs.tolist(), targets.tolist()
        out, t = [], 0
        while t < len(x):
            if x[t] >= K + V:
                out.append(NOISE_MARKS[x[t] - K - V])
                t += 1
                continue
            key, value = string.ascii_lowercase[x[t]], x[t + 1] - K
            out.append(f"{key}→{value}" if y[t] != IGNORE else f"{key}:{value}")
            t += 2
        return " ".join(out)
