"""Delayed match-to-sample (the NeuroGym task family: ``DelayMatchSample``; Miller et al.
1996 in monkeys).

A trial has five periods, one step each of ``dt``:

    fixation → sample → delay → test → decision
    (fixate)  (stimulus A)  (nothing)  (stimulus B)  (fixation off: respond)

Inputs ``[B, T, 1 + n_stim]``: channel 0 is the fixation cue (1 until the decision period),
channels 1… a ring of ``n_stim`` stimulus units with cosine tuning, ``cos(θ − θ_i)`` mapped
to [0, 1], plus Gaussian noise ``noise_std`` on every input. The sample and test directions
are among ``n_stim`` equally spaced angles; the test matches the sample with probability
½, otherwise it is one of the other directions. Targets: 0 (fixate) before the decision
period, then 1 (match) or 2 (non-match) for every decision step. The delay is drawn per
trial from ``delays`` in training; the ``test_long`` set draws it from ``test_delays``
(longer delays: holding the sample longer than in training). Trials of one batch are padded
at the end to the longest one; padding is unscored.

Metrics: ``accuracy`` on decision steps (the main metric), ``trial_accuracy`` (every
decision step of the trial right) and ``fixation_accuracy`` (holding fixation before it).
``score_fixation=False`` leaves the fixation steps unscored in the loss as well.

>>> task = DelayedMatch(DelayedMatchConfig(n_stim=4, fixation=1, sample=2, delays=(2, 3),
...                                        test=2, decision=2, noise_std=0.0))
>>> x, y = task.sample(1, torch.Generator().manual_seed(0))
>>> print(task.render(x[0], y[0]))
fix  1111111...
stim .33..33...
want fffffffMM
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from fastweights.tasks._common import check
from fastweights.tasks.base import IGNORE, Task, TaskConfig
from fastweights.tasks.budget import TrainBudget

FIXATE, MATCH, NON_MATCH = 0, 1, 2


@dataclass
class DelayedMatchConfig(TaskConfig):
    n_stim: int = 8  # directions on the stimulus ring
    fixation: int = 3  # steps per period (NeuroGym: 300 ms at dt = 100 ms)
    sample: int = 5
    delays: tuple[int, int] = (5, 10)  # training delay range, inclusive
    test: int = 5
    decision: int = 3
    test_delays: tuple[int, int] | None = (15, 20)  # the test_long set; None: no such set
    noise_std: float = 0.1
    score_fixation: bool = True


class DelayedMatch(Task):
    name = "delayed-match"
    Config = DelayedMatchConfig
    budget = TrainBudget("deltanet", steps=300, batch_size=32, lr=1e-2,
                         metric=0.997, chance=1 / 2, seconds=44)
    tokens = False
    output_size = 3

    def __init__(self, config: DelayedMatchConfig | None = None):
        super().__init__(config)
        self.input_size = 1 + self.config.n_stim

    def _check(self, config: DelayedMatchConfig) -> None:
        super()._check(config)
        check(self.name, config.n_stim >= 2, f"n_stim must be >= 2, got {config.n_stim}")
        for field in ("fixation", "sample", "test", "decision"):
            value = getattr(config, field)
            check(self.name, value >= 1, f"{field} must be >= 1 step, got {value}")
        for field in ("delays", "test_delays"):
            value = getattr(config, field)
            if value is None and field == "test_delays":
                continue
            check(self.name, len(value) == 2 and 1 <= value[0] <= value[1],
                  f"{field} must be (min, max) with 1 <= min <= max (a delay of at least one "
                  f"step), got {value}")
        check(self.name, config.noise_std >= 0,
              f"noise_std must be >= 0, got {config.noise_std}")

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        return self._sample(n, generator, self.config.delays)

    def _sample(self, n: int, generator: torch.Generator,
                delays: tuple[int, int]) -> tuple[Tensor, Tensor]:
        c = self.config
        delay = torch.randint(delays[0], delays[1] + 1, (n,), generator=generator)
        sample_dir = torch.randint(c.n_stim, (n,), generator=generator)
        match = torch.rand(n, generator=generator) < 0.5
        other = (sample_dir + torch.randint(1, c.n_stim, (n,), generator=generator)) % c.n_stim
        test_dir = torch.where(match, sample_dir, other)
        # period boundaries per trial: [n, 1] each
        s0 = torch.full((n, 1), c.fixation)
        d0 = s0 + c.sample
        t0 = d0 + delay[:, None]
        r0 = t0 + c.test
        end = r0 + c.decision
        T = c.fixation + c.sample + delays[1] + c.test + c.decision
        t = torch.arange(T)[None]  # [1, T]
        angles = 2 * math.pi * torch.arange(c.n_stim) / c.n_stim
        stim = lambda d: (1 + torch.cos(angles[d][:, None] - angles[None])) / 2  # noqa: E731
        inputs = torch.zeros(n, T, 1 + c.n_stim)
        inputs[..., 0] = (t < r0).float()
        in_sample = ((t >= s0) & (t < d0))[..., None]
        in_test = ((t >= t0) & (t < r0))[..., None]
        inputs[..., 1:] = in_sample * stim(sample_dir)[:, None] + in_test * stim(test_dir)[:, None]
        inputs = inputs + c.noise_std * torch.randn(n, T, 1 + c.n_stim, generator=generator)
        inputs = torch.where(t[..., None] < end[..., None], inputs, torch.zeros(()))
        choice = torch.where(match, MATCH, NON_MATCH)[:, None]
        targets = torch.where(t < r0, FIXATE if c.score_fixation else IGNORE, choice)
        targets = torch.where(t < end, targets, IGNORE)
        return inputs, targets

    def eval_sets(self) -> dict[str, tuple[Tensor, Tensor]]:
        sets = super().eval_sets()
        if self.config.test_delays is not None:
            sets["test_long"] = self.fixed_set(
                "test_long", self.config.test_seed + 2,
                lambda g: self._sample(self.config.test_size, g, self.config.test_delays))
        return sets

    def metrics(self, logits: Tensor, targets: Tensor) -> dict[str, float]:
        pred = logits.argmax(-1)
        decide = (targets == MATCH) | (targets == NON_MATCH)
        fixate = targets == FIXATE
        right = pred == targets
        out = {
            "accuracy": float(right[decide].float().mean()),
            "trial_accuracy": float((right | ~decide).all(dim=1).float().mean()),
        }
        if fixate.any():
            out["fixation_accuracy"] = float(right[fixate].float().mean())
        return out

    def render(self, inputs: Tensor, targets: Tensor) -> str:
        marks = {FIXATE: "f", MATCH: "M", NON_MATCH: "N", IGNORE: " "}
        rows = ["fix  " + "".join("1" if v > 0.5 else "." for v in inputs[:, 0].tolist())]
        stim = inputs[:, 1:]
        strongest = stim.argmax(-1).tolist()
        shown = stim.max(-1).values.tolist()
        rows.append("stim " + "".join(str(d) if v > 0.5 else "." for d, v in
                                      zip(strongest, shown, strict=False)))
        rows.append("want " + "".join(marks[y] for y in targets.tolist()).rstrip())
        return "\n".join(rows)
