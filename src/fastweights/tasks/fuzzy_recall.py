"""Fuzzy in-context recall (Poli et al. 2024, the MAD suite): keys and values are motifs of
several tokens.

Each sequence draws ``n_keys`` distinct key motifs (``key_len`` tokens of the key vocabulary)
and maps each to a value motif (``value_len`` tokens of the value vocabulary); then
``n_pairs`` key–value pairs drawn uniformly from that mapping follow each other. Next-token
form: from the last token of a key motif on, each position predicts the next value token.
Those predictions are scored only where the key motif occurred before in the sequence.
A key is recognised only from all its tokens together, so a memory must bind a sequence of
tokens, not a single symbol. (MAD also varies motif lengths; here they are fixed.)

Vocabulary: key tokens ``0 … n_key_tokens−1``, value tokens after them; the output classes
are the whole vocabulary.

>>> task = FuzzyRecall(FuzzyRecallConfig(n_key_tokens=3, n_value_tokens=3, key_len=2,
...                                      value_len=2, n_keys=2, n_pairs=4))
>>> x, y = task.sample(1, torch.Generator().manual_seed(4))
>>> print(task.render(x[0], y[0]))
ba:02 bb:12 bb→12 ba→02
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import torch
from torch import Tensor

from fastweights.tasks._common import check
from fastweights.tasks.base import IGNORE, Task, TaskConfig
from fastweights.tasks.budget import TrainBudget
from fastweights.tasks.noisy_recall import seen_before


@dataclass
class FuzzyRecallConfig(TaskConfig):
    n_key_tokens: int = 8
    n_value_tokens: int = 8
    key_len: int = 2
    value_len: int = 2
    n_keys: int = 8  # distinct key motifs in one sequence's mapping
    n_pairs: int = 16


def distinct_codes(n: int, k: int, pool: int, generator: torch.Generator) -> Tensor:
    """``k`` distinct integers from ``range(pool)`` per row, by redrawing duplicates."""
    codes = torch.randint(pool, (n, k), generator=generator)
    while True:
        ordered, idx = codes.sort(dim=1)
        dup = torch.zeros_like(codes, dtype=torch.bool)
        dup[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
        if not dup.any():
            return codes
        redo = torch.zeros_like(dup).scatter(1, idx, dup)
        codes[redo] = torch.randint(pool, (int(redo.sum()),), generator=generator)


class FuzzyRecall(Task):
    name = "fuzzy-recall"
    Config = FuzzyRecallConfig
    budget = TrainBudget("deltanet", steps=300, batch_size=32, lr=1e-2,
                         metric=0.970, chance=1 / 8, seconds=77)

    def __init__(self, config: FuzzyRecallConfig | None = None):
        super().__init__(config)
        self.input_size = self.output_size = self.config.n_key_tokens + self.config.n_value_tokens

    def _check(self, config: FuzzyRecallConfig) -> None:
        super()._check(config)
        for field, lo in (("n_key_tokens", 1), ("n_value_tokens", 2), ("key_len", 1),
                          ("value_len", 1), ("n_keys", 1), ("n_pairs", 2)):
            value = getattr(config, field)
            check(self.name, value >= lo, f"{field} must be >= {lo}, got {value}")
        check(self.name, config.n_key_tokens <= len(string.ascii_lowercase),
              f"n_key_tokens must be <= 26, got {config.n_key_tokens}")
        check(self.name, config.n_value_tokens <= 10,
              f"n_value_tokens must be <= 10, got {config.n_value_tokens}")
        motifs = config.n_key_tokens ** config.key_len
        check(self.name, config.n_keys <= motifs // 2,
              f"key vocabulary too small: n_keys={config.n_keys} distinct key motifs need "
              f"n_key_tokens ** key_len >= {2 * config.n_keys}, got {motifs}")

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        c = self.config
        Kt, Vt, kl, vl = c.n_key_tokens, c.n_value_tokens, c.key_len, c.value_len
        codes = distinct_codes(n, c.n_keys, Kt ** kl, generator)  # [n, n_keys]
        digits = Kt ** torch.arange(kl - 1, -1, -1)
        key_motifs = codes[..., None] // digits % Kt  # [n, n_keys, kl]
        value_motifs = torch.randint(Vt, (n, c.n_keys, vl), generator=generator) + Kt
        which = torch.randint(c.n_keys, (n, c.n_pairs), generator=generator)  # [n, P]
        rows = torch.arange(n)[:, None]
        pairs = torch.cat([key_motifs[rows, which], value_motifs[rows, which]], dim=2)
        inputs = pairs.flatten(1)  # [n, P·(kl + vl)]
        # position kl−1+j of a pair predicts its value token j (j < vl)
        targets = torch.full_like(pairs, IGNORE)
        scored = seen_before(which, c.n_keys)[..., None]  # [n, P, 1]
        targets[..., kl - 1: kl - 1 + vl] = torch.where(scored, pairs[..., kl:], IGNORE)
        return inputs, targets.flatten(1)

    def render(self, inputs: Tensor, targets: Tensor) -> str:
        c = self.config
        width = c.key_len + c.value_len
        x, y = inputs.view(-1, width).tolist(), targets.view(-1, width).tolist()
        out = []
        for tokens, scored in zip(x, y, strict=False):
            key = "".join(string.ascii_lowercase[t] for t in tokens[:c.key_len])
            value = "".join(str(t - c.n_key_tokens) for t in tokens[c.key_len:])
            out.append(f"{key}{'→' if scored[c.key_len - 1] != IGNORE else ':'}{value}")
        return " ".join(out)
