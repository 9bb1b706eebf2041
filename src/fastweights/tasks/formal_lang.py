"""Formal-language recognition by next-character-set prediction (Bhattamishra, Ahuja & Goyal
2020, "On the Ability and Limitations of Transformers to Recognize Formal Languages"; the
setting of Irie, Csordás & Schmidhuber 2023).

The model reads a string of the language one character at a time, after a start symbol, and
at every position predicts the **set** of characters that may come next — every c such that
prefix + c is the prefix of some string of the language — plus the end marker ``$`` when the
prefix is itself in the language. A model that gets every set of a string right has
recognised it. Languages (``language``):

============== ======== ============================================================
name           alphabet strings
============== ======== ============================================================
``parity``     ``01``   an even number of 1s
``aa-star``    ``a``    (aa)*
``abab-star``  ``ab``   (abab)*
``counter-2``  ``ab``   aⁿbⁿ, n ≥ 1
``counter-3``  ``abc``  aⁿbⁿcⁿ, n ≥ 1
``shuffle-2``  ``()[]`` interleavings of a Dyck-1 word over ``()`` and one over ``[]``
``dyck-1``     ``()``   balanced brackets
``reset-dyck`` ``()r``  Dyck-1 where ``r`` resets the count: after the last ``r`` the
                        string is balanced-so-far and must end balanced
============== ======== ============================================================

The output is multi-label: ``output_size = |alphabet| + 1`` channels (the alphabet, then
``$``), one sigmoid each; a channel is "predicted" when its logit is > 0. Targets are floats
``[B, T+1, |alphabet|+1]`` in {0, 1}, NaN at padding. Loss: binary cross-entropy over the
scored entries. Metrics: ``accuracy`` (positions whose whole set is right) and the main
metric ``sequence_accuracy`` (strings whose every set is right: exact match per sequence).

Inputs: ``BOS x₁ … x_L`` then padding; token ids are the alphabet, then BOS, then PAD.
Lengths are drawn uniformly among the lengths the language admits in [min_len, max_len]
(train: up to 50; ``test_long``: 51–100, as in Irie et al. 2023). Strings of a length are
drawn by a random walk that picks uniformly among the characters that keep the string
completable to that exact length.

>>> task = FormalLang(FormalLangConfig(language="dyck-1", min_len=6, max_len=6))
>>> x, y = task.sample(1, torch.Generator().manual_seed(0))
>>> print(task.render(x[0], y[0]))
^:{($} (:{()} (:{()} (:{()} ):{()} ):{()} ):{($}
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from fastweights.tasks._common import check, lengths_between
from fastweights.tasks.base import Task, TaskConfig
from fastweights.tasks.budget import TrainBudget

ALPHABETS = {
    "parity": "01",
    "aa-star": "a",
    "abab-star": "ab",
    "counter-2": "ab",
    "counter-3": "abc",
    "shuffle-2": "()[]",
    "dyck-1": "()",
    "reset-dyck": "()r",
}
# admissible string lengths: (multiple, minimum)
LENGTHS = {
    "parity": (1, 1), "aa-star": (2, 2), "abab-star": (4, 4), "counter-2": (2, 2),
    "counter-3": (3, 3), "shuffle-2": (2, 2), "dyck-1": (2, 2), "reset-dyck": (1, 1),
}


@dataclass
class FormalLangConfig(TaskConfig):
    language: str = "dyck-1"
    min_len: int = 1
    max_len: int = 50
    test_min_len: int = 51
    test_max_len: int = 100
    test_long_size: int = 500


def _choose(weights: Tensor, generator: torch.Generator) -> Tensor:
    """One index per row with probability ∝ ``weights`` ``[n, A]`` (rows sum > 0)."""
    cum = weights.cumsum(dim=1)
    u = torch.rand(weights.shape[0], 1, generator=generator) * cum[:, -1:]
    return (cum <= u).sum(dim=1).clamp(max=weights.shape[1] - 1)


class FormalLang(Task):
    name = "formal-lang"
    Config = FormalLangConfig
    budget = TrainBudget("deltanet", steps=300, batch_size=32, lr=1e-2,
                         metric=0.916, chance=0.0, seconds=78)
    main_metric = "sequence_accuracy"

    def __init__(self, config: FormalLangConfig | None = None):
        super().__init__(config)
        self.alphabet = ALPHABETS[self.config.language]
        k = len(self.alphabet)
        self.bos, self.pad = k, k + 1
        self.input_size, self.output_size = k + 2, k + 1

    def _check(self, config: FormalLangConfig) -> None:
        super()._check(config)
        check(self.name, config.language in ALPHABETS,
              f"language must be one of {tuple(ALPHABETS)}, got {config.language!r}")
        multiple, least = LENGTHS[config.language]
        for a, b in (("min_len", "max_len"), ("test_min_len", "test_max_len")):
            x, y = getattr(config, a), getattr(config, b)
            check(self.name, 1 <= x <= y,
                  f"{a} and {b} must satisfy 1 <= {a} <= {b}, got {x} and {y}")
            ok = any(v % multiple == 0 for v in range(max(x, least), y + 1))
            check(self.name, ok,
                  f"{a}..{b} = {x}..{y} holds no length of a {config.language} string "
                  f"(a multiple of {multiple}, at least {least})")
        check(self.name, config.test_long_size >= 1,
              f"test_long_size must be >= 1, got {config.test_long_size}")

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        return self._sample(n, generator, self.config.min_len, self.config.max_len)

    def test_long_set(self) -> tuple[Tensor, Tensor]:
        c = self.config
        return self.fixed_set("test_long", c.test_seed + 2, lambda g: self._sample(
            c.test_long_size, g, c.test_min_len, c.test_max_len))

    def eval_sets(self) -> dict[str, tuple[Tensor, Tensor]]:
        return {"test": self.test_set(), "test_long": self.test_long_set()}

    def _sample(self, n: int, generator: torch.Generator, lo: int,
                hi: int) -> tuple[Tensor, Tensor]:
        multiple, least = LENGTHS[self.config.language]
        lengths = lengths_between(n, max(lo, least), hi, generator, multiple=multiple)
        strings = self.strings(lengths, generator)  # [n, T], padded with self.pad
        T = strings.shape[1]
        inputs = torch.cat([torch.full((n, 1), self.bos), strings], dim=1)
        targets = self.next_sets(strings)  # [n, T + 1, k + 1]
        pad = torch.arange(T + 1)[None] > lengths[:, None]
        targets[pad] = float("nan")
        return inputs, targets

    def strings(self, lengths: Tensor, generator: torch.Generator) -> Tensor:
        """Random strings of the language with the given lengths, padded: ``[n, max L]``."""
        lang, n, T = self.config.language, lengths.numel(), int(lengths.max())
        t = torch.arange(T)[None]  # [1, T]
        L = lengths[:, None]
        if lang == "parity":
            bits = torch.randint(2, (n, T), generator=generator)
            bits = bits.masked_fill(t >= L - 1, 0)
            last = bits.sum(dim=1, keepdim=True) % 2  # makes the number of 1s even
            x = torch.where(t == L - 1, last, bits)
        elif lang == "aa-star":
            x = torch.zeros(n, T, dtype=torch.long)
        elif lang == "abab-star":
            x = (t % 2).expand(n, T).clone()
        elif lang == "counter-2":
            x = (t >= L // 2).long()
        elif lang == "counter-3":
            x = (t >= L // 3).long() + (t >= 2 * (L // 3)).long()
        else:
            x = self._walk(lengths, generator)
        return x.masked_fill(t >= L, self.pad)

    def _walk(self, lengths: Tensor, generator: torch.Generator) -> Tensor:
        """Bracket languages: at each step choose uniformly among the characters after
        which the string can still be completed to its exact length."""
        lang, n, T = self.config.language, lengths.numel(), int(lengths.max())
        x = torch.zeros(n, T, dtype=torch.long)
        depth = torch.zeros(n, 2, dtype=torch.long)  # open () and [] (reset-dyck: () only)
        for t in range(T):
            left = lengths - t  # characters left, this one included
            total = depth.sum(dim=1)
            if lang == "reset-dyck":
                d = depth[:, 0]
                allowed = torch.stack([
                    left >= 2,  # '(' — an 'r' can still close the books
                    (d > 0) & ((d == 1) | (left >= 2)),  # ')'
                    torch.ones_like(d, dtype=torch.bool),  # 'r'
                ], dim=1)
                weights = allowed * torch.tensor([1.0, 1.0, 0.2])
            else:
                can_open = total + 1 <= left - 1
                allowed = torch.stack([can_open, depth[:, 0] > 0, can_open, depth[:, 1] > 0],
                                      dim=1)
                if lang == "dyck-1":
                    allowed = allowed[:, :2]
                weights = allowed.float()
            weights[left <= 0] = 1.0  # finished rows: any character, masked later
            c = _choose(weights, generator)
            x[:, t] = c
            if lang == "reset-dyck":
                step = torch.where(c == 0, 1, -1)
                depth[:, 0] = torch.where(c == 2, 0, depth[:, 0] + step)
            else:
                which = c // 2
                delta = torch.where(c % 2 == 0, 1, -1)
                depth.scatter_add_(1, which[:, None], delta[:, None])
        return x

    def next_sets(self, x: Tensor) -> Tensor:
        """The target set after every prefix ``x[:, :i]``, i = 0 … T: ``[n, T+1, k+1]``
        (for padded strings, entries past a string's end are meaningless)."""
        lang, k = self.config.language, len(self.alphabet)
        n, T = x.shape
        onehot = F.one_hot(x.clamp(max=k - 1), k) * (x < k)[..., None]
        counts = torch.cat([torch.zeros(n, 1, k, dtype=torch.long), onehot.cumsum(dim=1)],
                           dim=1)  # [n, T+1, k]: character counts of each prefix
        i = torch.arange(T + 1)[None].expand(n, T + 1)
        out = torch.zeros(n, T + 1, k + 1)
        END = k
        if lang == "parity":
            out[..., 0] = out[..., 1] = 1
            out[..., END] = (counts[..., 1] % 2 == 0).float()
        elif lang == "aa-star":
            out[..., 0] = 1
            out[..., END] = (i % 2 == 0).float()
        elif lang == "abab-star":
            out[..., 0] = (i % 2 == 0).float()
            out[..., 1] = (i % 2 == 1).float()
            out[..., END] = (i % 4 == 0).float()
        elif lang == "counter-2":
            a, b = counts[..., 0], counts[..., 1]
            out[..., 0] = (b == 0).float()
            out[..., 1] = ((a > 0) & (b < a)).float()
            out[..., END] = ((a > 0) & (b == a)).float()
        elif lang == "counter-3":
            a, b, c = counts[..., 0], counts[..., 1], counts[..., 2]
            out[..., 0] = (b == 0).float()
            out[..., 1] = ((a > 0) & (b < a) & (c == 0)).float()
            out[..., 2] = ((a > 0) & (b == a) & (c < a)).float()
            out[..., END] = ((a > 0) & (c == a)).float()
        elif lang in ("dyck-1", "shuffle-2"):
            for j in range(k // 2):
                out[..., 2 * j] = 1
                out[..., 2 * j + 1] = (counts[..., 2 * j] > counts[..., 2 * j + 1]).float()
            depth = counts[..., 0::2] - counts[..., 1::2]
            out[..., END] = (depth == 0).all(dim=-1).float()
        elif lang == "reset-dyck":
            step = torch.where(x == 0, 1, torch.where(x == 1, -1, 0))
            level = torch.cat([torch.zeros(n, 1, dtype=torch.long), step.cumsum(dim=1)], dim=1)
            # the level at the last reset at or before each prefix end
            is_reset = torch.cat([torch.zeros(n, 1, dtype=torch.bool), x == 2], dim=1)
            last = torch.where(is_reset, i, 0).cummax(dim=1).values
            depth = level - level.gather(1, last)
            out[..., 0] = out[..., 2] = 1
            out[..., 1] = (depth > 0).float()
            out[..., END] = (depth == 0).float()
        return out

    def loss(self, logits: Tensor, targets: Tensor) -> Tensor:
        scored = ~torch.isnan(targets)
        return F.binary_cross_entropy_with_logits(logits.float()[scored], targets[scored])

    def metrics(self, logits: Tensor, targets: Tensor) -> dict[str, float]:
        scored = ~torch.isnan(targets[..., 0])  # [B, T+1]
        right = ((logits > 0).float() == targets).all(dim=-1) | ~scored
        return {
            "accuracy": float(right[scored].float().mean()),
            "sequence_accuracy": float(right.all(dim=1).float().mean()),
        }

    def render(self, inputs: Tensor, targets: Tensor) -> str:
        """The string, then the target set after each prefix (``^`` is the start)."""
        symbols = self.alphabet + "$"
        chars = ["^"] + [self.alphabet[i] for i in inputs[1:].tolist() if i < self.bos]
        sets = ["".join(s for s, on in zip(symbols, row, strict=True) if on == 1)
                for row in targets[: len(chars)].tolist()]
        return " ".join(f"{c}:{{{s}}}" for c, s in zip(chars, sets, strict=True))
