r"""Character-level language modelling on a small public-domain corpus shipped with the
package: six Shakespeare plays from Project Gutenberg (842 kB; see ``data/README.md``).

The text is split once: the first ``1 − test_fraction`` of it is for training, the rest is
held out. A training example is a window of ``seq_len + 1`` characters at a random offset in
the training part: inputs are its first ``seq_len`` characters, targets the next character
at every position. The test set is the held-out part cut into consecutive non-overlapping
windows (at most ``test_size`` of them), so it is fixed and never overlaps training text.
The vocabulary is every character of the corpus (73, sorted). Metric: bits per character,
``bpc`` = cross-entropy / ln 2 (the main metric, lower is better), and accuracy.
``encode`` / ``decode`` turn text into ids and back (the tokenizer of ``fastweights
generate``); a character outside the vocabulary is a ``ValueError``.

>>> task = CharLM(CharLMConfig(seq_len=24))
>>> x, y = task.sample(1, torch.Generator().manual_seed(0))
>>> print(task.render(x[0], y[0]))
'eeds,\nTo dew the soverei' -> 'g'
>>> task.decode(task.encode("To be, or not"))
'To be, or not'
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from importlib import resources

import torch
import torch.nn.functional as F
from torch import Tensor

from fastweights.tasks._common import check
from fastweights.tasks.base import IGNORE, Task, TaskConfig
from fastweights.tasks.budget import TrainBudget

CORPUS = "shakespeare.txt"


@functools.cache
def load_corpus(name: str = CORPUS) -> tuple[str, Tensor]:
    """The corpus text's sorted character set and the text as ids ``[N]`` (cached)."""
    text = resources.files("fastweights.tasks").joinpath("data", name).read_text("utf-8")
    chars = "".join(sorted(set(text)))
    lookup = torch.zeros(max(map(ord, chars)) + 1, dtype=torch.long)
    lookup[torch.tensor([ord(c) for c in chars])] = torch.arange(len(chars))
    codes = torch.frombuffer(bytearray(text.encode("latin-1")), dtype=torch.uint8)
    return chars, lookup[codes.long()]


@dataclass
class CharLMConfig(TaskConfig):
    seq_len: int = 128
    test_fraction: float = 0.1
    test_size: int = 256  # held-out windows (the held-out part holds ~650 of 128 chars)


class CharLM(Task):
    name = "char-lm"
    Config = CharLMConfig
    budget = TrainBudget("deltanet", steps=500, batch_size=32, lr=1e-2, eval_every=250,
                         metric=2.54, chance=4.67, seconds=167)
    main_metric = "bpc"
    higher_is_better = False

    def __init__(self, config: CharLMConfig | None = None):
        super().__init__(config)
        self.chars, ids = load_corpus()
        self.input_size = self.output_size = len(self.chars)
        split = int(len(ids) * (1 - self.config.test_fraction))
        self.train_ids, self.test_ids = ids[:split], ids[split:]
        check(self.name, len(self.test_ids) > self.config.seq_len,
              f"test_fraction={self.config.test_fraction} leaves {len(self.test_ids)} "
              f"characters, fewer than seq_len + 1 = {self.config.seq_len + 1}")

    def _check(self, config: CharLMConfig) -> None:
        super()._check(config)
        check(self.name, config.seq_len >= 1, f"seq_len must be >= 1, got {config.seq_len}")
        check(self.name, 0 < config.test_fraction < 1,
              f"test_fraction must be in (0, 1), got {config.test_fraction}")

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """``n`` random windows of the training part."""
        L = self.config.seq_len
        starts = torch.randint(len(self.train_ids) - L, (n, 1), generator=generator)
        windows = self.train_ids[starts + torch.arange(L + 1)]  # [n, L + 1]
        return windows[:, :-1], windows[:, 1:]

    def test_set(self) -> tuple[Tensor, Tensor]:
        """Consecutive non-overlapping windows of the held-out part."""
        if self._test is None:
            L = self.config.seq_len
            count = min(self.config.test_size, (len(self.test_ids) - 1) // L)
            starts = torch.arange(count)[:, None] * L
            windows = self.test_ids[starts + torch.arange(L + 1)]
            self._test = windows[:, :-1], windows[:, 1:]
        return self._test

    def metrics(self, logits: Tensor, targets: Tensor) -> dict[str, float]:
        ce = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(),
                             ignore_index=IGNORE)
        hit = logits.argmax(-1) == targets
        return {"bpc": float(ce) / math.log(2), "accuracy": float(hit.float().mean())}

    def encode(self, text: str) -> Tensor:
        """The ids ``[len(text)]`` of ``text``; ValueError naming unknown characters."""
        index = {c: i for i, c in enumerate(self.chars)}
        unknown = sorted(set(text) - index.keys())
        if unknown:
            raise ValueError(f"{self.name}: characters {unknown} are not in the vocabulary "
                             f"of {len(self.chars)} characters of the corpus")
        return torch.tensor([index[c] for c in text], dtype=torch.long)

    def decode(self, ids: Tensor | list[int]) -> str:
        """The text of ids ``[N]``."""
        ids = ids.tolist() if isinstance(ids, Tensor) else list(ids)
        bad = [i for i in ids if not 0 <= i < len(self.chars)]
        if bad:
            raise ValueError(f"{self.name}: ids {bad[:5]} are outside the vocabulary "
                             f"range(0, {len(self.chars)})")
        return "".join(self.chars[i] for i in ids)

    def render(self, inputs: Tensor, targets: Tensor) -> str:
        return f"{self.decode(inputs)!r} -> {self.chars[int(targets[-1])]!r}"
