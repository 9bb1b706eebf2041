"""Memory capacity (Schlag, Irie & Schmidhuber 2021, "Linear Transformers Are Secretly Fast
Weight Programmers", section 6.1).

S keys are written with random values, then keys are queried and the model must return the
value stored under each. The fast-weight memory of a sum-rule model holds at most about as
many associations as its key-feature dimension; once S exceeds it, retrieval degrades.

- setting 1 (``replace=False``): each of the S keys is written once, in random order;
- setting 2 (``replace=True``): 2S writes; every key is written at least once and S writes
  re-use a random key with a fresh value. The target is the value of the key's **latest**
  write, so a memory must overwrite, not just add (where the delta rule beats the sum rule).

Sequence: ``k v k v … k v | q …`` — one token per key and per value, the separator ``|``,
then ``n_queries`` distinct query keys (default 1, a random key, as in the paper;
``n_queries=None`` queries every key once, S times the signal per sequence). Targets are
scored at the query positions only. Vocabulary: keys ``0 … S−1``, values ``S … S+V−1``, separator
``S+V``; the output classes are the V values.

The paper's loss is ½‖onehot(v) − ŷ‖² on the raw outputs; ``loss="mse"`` selects it (and
adds ``mse`` to the metrics), ``loss="ce"`` (default) is cross-entropy.

>>> task = Capacity(CapacityConfig(n_keys=3, n_values=4, n_queries=None, replace=True))
>>> x, y = task.sample(1, torch.Generator().manual_seed(0))
>>> print(task.render(x[0], y[0]))
k1=0 k0=3 k1=2 k2=0 k0=0 k0=0 | k0 k1 k2 -> 0 2 0
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from fastweights.tasks._common import check, row_permutations
from fastweights.tasks.base import IGNORE, Task, TaskConfig
from fastweights.tasks.budget import TrainBudget


@dataclass
class CapacityConfig(TaskConfig):
    n_keys: int = 20  # S
    n_values: int = 16  # V, the one-hot value dimension
    n_queries: int | None = 1  # distinct keys queried; None: every key once
    replace: bool = False  # setting 2: 2S writes, keys recur, target the latest value
    loss: str = "ce"  # "ce" or "mse" (½‖onehot(v) − ŷ‖², the paper's)


class Capacity(Task):
    name = "capacity"
    Config = CapacityConfig
    budget = TrainBudget("deltanet", steps=1500, batch_size=32, lr=1e-2, eval_every=250,
                         metric=0.9985, chance=1 / 16, seconds=148)

    def __init__(self, config: CapacityConfig | None = None):
        super().__init__(config)
        S, V = self.config.n_keys, self.config.n_values
        self.sep = S + V
        self.input_size = S + V + 1
        self.output_size = V

    def _check(self, config: CapacityConfig) -> None:
        super()._check(config)
        check(self.name, config.n_keys >= 1, f"n_keys must be >= 1, got {config.n_keys}")
        check(self.name, config.n_values >= 2, f"n_values must be >= 2, got {config.n_values}")
        if config.n_queries is not None:
            check(self.name, 1 <= config.n_queries <= config.n_keys,
                  f"n_queries must be in 1..n_keys={config.n_keys} (distinct keys are "
                  f"queried), got {config.n_queries}")
        check(self.name, config.loss in ("ce", "mse"),
              f"loss must be 'ce' or 'mse', got {config.loss!r}")

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        S, V = self.config.n_keys, self.config.n_values
        Q = self.config.n_queries or S
        keys = row_permutations(n, S, generator)  # [n, S]
        if self.config.replace:
            extra = torch.randint(S, (n, S), generator=generator)
            keys = torch.cat([keys, extra], dim=1)
            keys = keys.gather(1, row_permutations(n, 2 * S, generator))  # [n, 2S]
        W = keys.shape[1]
        values = torch.randint(V, (n, W), generator=generator)  # [n, W]
        # the latest value of each key: scatter in write order, later writes win
        order = torch.arange(W).expand(n, W)
        last = torch.full((n, S), -1).scatter_reduce(1, keys, order, reduce="amax")
        latest = values.gather(1, last)  # [n, S]
        queries = row_permutations(n, S, generator)[:, :Q]  # [n, Q]
        writes = torch.stack([keys, values + S], dim=2).flatten(1)  # [n, 2W]
        sep = torch.full((n, 1), self.sep)
        inputs = torch.cat([writes, sep, queries], dim=1)
        targets = torch.full_like(inputs, IGNORE)
        targets[:, 2 * W + 1:] = latest.gather(1, queries)
        return inputs, targets

    def loss(self, logits: Tensor, targets: Tensor) -> Tensor:
        if self.config.loss == "ce":
            return super().loss(logits, targets)
        return _half_squared_error(logits, targets)

    def metrics(self, logits: Tensor, targets: Tensor) -> dict[str, float]:
        out = super().metrics(logits, targets)
        if self.config.loss == "mse":
            out["mse"] = float(_half_squared_error(logits, targets))
        return out

    def render(self, inputs: Tensor, targets: Tensor) -> str:
        S = self.config.n_keys
        x, y = inputs.tolist(), targets.tolist()
        split = x.index(self.sep)
        writes = " ".join(f"k{k}={v - S}" for k, v in zip(x[0:split:2], x[1:split:2], strict=False))
        queries = " ".join(f"k{k}" for k in x[split + 1:])
        answers = " ".join(str(v) for v in y[split + 1:])
        return f"{writes} | {queries} -> {answers}"


def _half_squared_error(outputs: Tensor, targets: Tensor) -> Tensor:
    """½‖onehot(target) − output‖² averaged over the scored positions."""
    scored = targets != IGNORE
    onehot = F.one_hot(targets[scored], outputs.shape[-1]).float()
    return 0.5 * (onehot - outputs[scored].float()).pow(2).sum(-1).mean()
