"""Delayed match-to-sample with biological timing, and its manipulation variant (Masse, Yang,
Song, Wang & Freedman 2019, after the monkey tasks of Freedman and colleagues): registry
``masse-dms`` and ``masse-dmrs``.

A trial is four periods given in ms and cut into steps of ``dt`` ms:

    fixation (500) → sample (500) → delay (1000) → test (500)

Inputs ``[B, T, n_tuned]`` (n_tuned = 24): direction-tuned input units with von Mises
tuning, unit i with preferred direction φ_i = 360° i / n_tuned responds to motion θ with
``height · exp(κ (cos(θ − φ_i) − 1))`` (height 4, κ 2) during the sample (θ = sample
direction) and the test (θ = test direction), 0 otherwise; one of ``n_dirs`` = 8 directions.
There is no fixation input: the test stimulus is the go cue.

Targets: 0 (fixate) until test onset, then 1 (match) or 2 (non-match) for the whole test
period; the first ``mask`` ms after test onset (rounded to steps) are unscored (-100). The
test matches when it equals the sample rotated by ``rotation`` degrees: 0° is DMS
(``masse-dms``), 90° is the manipulation task DMRS90 (``masse-dmrs``; the network must
rotate the remembered sample). Match trials are half of all trials; a non-match test is
any other direction.

The authors' code labels match 2 and non-match 1; the labels here follow
``delayed-match``. The input noise of the authors' generator is part of the ``stsp-rnn``
model (training mode only); ``noise_std`` adds Gaussian noise here, for models without
their own.

``trials(n, generator)`` also returns each trial's sample and test direction and match
flag (for decoding analyses); ``periods()`` gives the steps of each period.

>>> task = MasseDMS(MasseDMSConfig(dt=100, mask=100, n_tuned=4, n_dirs=4))
>>> x, y = task.sample(1, torch.Generator().manual_seed(1))
>>> print(task.render(x[0], y[0]))
stim .....11111..........11111
want ffffffffffffffffffff MMMM
>>> task.periods()
{'fixation': (0, 5), 'sample': (5, 10), 'delay': (10, 20), 'test': (20, 25)}
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from fastweights.tasks._common import check
from fastweights.tasks.base import IGNORE, Task, TaskConfig
from fastweights.tasks.budget import TrainBudget
from fastweights.tasks.delayed_match import FIXATE, MATCH, NON_MATCH

PERIODS = ("fixation", "sample", "delay", "test")


@dataclass
class MasseDMSConfig(TaskConfig):
    dt: float = 10.0  # ms per step
    fixation: float = 500.0  # ms
    sample: float = 500.0
    delay: float = 1000.0
    test: float = 500.0
    mask: float = 50.0  # ms after test onset left unscored
    rotation: float = 0.0  # degrees: the match rule is test = sample + rotation
    n_dirs: int = 8
    n_tuned: int = 24
    tuning_height: float = 4.0
    kappa: float = 2.0
    noise_std: float = 0.0
    test_size: int = 1024


@dataclass
class Trials:
    inputs: Tensor  # [n, T, n_tuned]
    targets: Tensor  # [n, T]
    sample: Tensor  # [n] sample direction index
    test: Tensor  # [n] test direction index
    match: Tensor  # [n] bool


class MasseDMS(Task):
    name = "masse-dms"
    Config = MasseDMSConfig
    budget = TrainBudget("deltanet", steps=200, batch_size=32, lr=1e-2, eval_every=200,
                         metric=1.0, chance=1 / 2, seconds=115)
    tokens = False
    output_size = 3

    def __init__(self, config: MasseDMSConfig | None = None):
        super().__init__(config)
        self.input_size = self.config.n_tuned

    def _check(self, config: MasseDMSConfig) -> None:
        super()._check(config)
        check(self.name, config.dt > 0, f"dt must be > 0 ms, got {config.dt}")
        for field in PERIODS:
            steps = getattr(config, field) / config.dt
            check(self.name, steps >= 1 and steps == round(steps),
                  f"{field} must be a whole number (at least one) of dt = {config.dt} ms "
                  f"steps, got {getattr(config, field)}")
        check(self.name, config.mask >= 0, f"mask must be >= 0 ms, got {config.mask}")
        check(self.name, config.mask < config.test,
              f"mask ({config.mask} ms) must be shorter than the test period ({config.test} ms)")
        check(self.name, config.n_dirs >= 2, f"n_dirs must be >= 2, got {config.n_dirs}")
        check(self.name, config.n_tuned >= 1, f"n_tuned must be >= 1, got {config.n_tuned}")
        shift = config.rotation / 360 * config.n_dirs
        check(self.name, shift == round(shift),
              f"rotation ({config.rotation}°) must be a multiple of 360°/n_dirs")
        check(self.name, config.noise_std >= 0, f"noise_std must be >= 0, got {config.noise_std}")

    def periods(self) -> dict[str, tuple[int, int]]:
        """Each period's [start, end) in steps."""
        out, t = {}, 0
        for name in PERIODS:
            n = round(getattr(self.config, name) / self.config.dt)
            out[name] = (t, t + n)
            t += n
        return out

    def tuning(self, direction: Tensor) -> Tensor:
        """The input units' response to directions ``direction`` [n]: [n, n_tuned]."""
        c = self.config
        theta = 2 * math.pi * direction[:, None] / c.n_dirs
        pref = 2 * math.pi * torch.arange(c.n_tuned) / c.n_tuned
        return c.tuning_height * torch.exp(c.kappa * (torch.cos(theta - pref) - 1))

    def trials(self, n: int, generator: torch.Generator) -> Trials:
        """``n`` trials with their sample and test directions and match flags."""
        c, p = self.config, self.periods()
        shift = round(c.rotation / 360 * c.n_dirs)
        sample = torch.randint(c.n_dirs, (n,), generator=generator)
        match = torch.rand(n, generator=generator) < 0.5
        target_dir = (sample + shift) % c.n_dirs
        other = (target_dir + torch.randint(1, c.n_dirs, (n,), generator=generator)) % c.n_dirs
        test = torch.where(match, target_dir, other)
        T = p["test"][1]
        t = torch.arange(T)
        inputs = torch.zeros(n, T, c.n_tuned)
        in_sample = ((t >= p["sample"][0]) & (t < p["sample"][1]))[None, :, None]
        in_test = (t >= p["test"][0])[None, :, None]
        inputs = in_sample * self.tuning(sample)[:, None] + in_test * self.tuning(test)[:, None]
        if c.noise_std > 0:
            inputs = inputs + c.noise_std * torch.randn(inputs.shape, generator=generator)
        onset, masked = p["test"][0], p["test"][0] + round(c.mask / c.dt)
        choice = torch.where(match, MATCH, NON_MATCH)[:, None]
        targets = torch.where(t[None] < onset, FIXATE, choice)
        targets = torch.where((t[None] >= onset) & (t[None] < masked), IGNORE, targets)
        return Trials(inputs, targets, sample, test, match)

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        trials = self.trials(n, generator)
        return trials.inputs, trials.targets

    def test_trials(self) -> Trials:
        """The held-out trials (seed ``test_seed``) with their labels: ``test_set()`` plus
        the sample, test and match of each."""
        return self.trials(self.config.test_size,
                           torch.Generator().manual_seed(self.config.test_seed))

    def metrics(self, logits: Tensor, targets: Tensor) -> dict[str, float]:
        """``accuracy`` over the scored test steps (the authors' measure),
        ``trial_accuracy`` (every scored step right) and ``fixation_accuracy``."""
        pred = logits.argmax(-1)
        decide = (targets == MATCH) | (targets == NON_MATCH)
        right = pred == targets
        return {
            "accuracy": float(right[decide].float().mean()),
            "trial_accuracy": float((right | (targets == IGNORE)).all(1).float().mean()),
            "fixation_accuracy": float(right[targets == FIXATE].float().mean()),
        }

    def render(self, inputs: Tensor, targets: Tensor) -> str:
        marks = {FIXATE: "f", MATCH: "M", NON_MATCH: "N", IGNORE: " "}
        strongest = (inputs.argmax(-1) * self.config.n_dirs // self.config.n_tuned).tolist()
        on = (inputs.max(-1).values > 0.5 * self.config.tuning_height).tolist()
        return "\n".join([
            "stim " + "".join(str(d) if v else "." for d, v in zip(strongest, on, strict=True)),
            "want " + "".join(marks[int(y)] for y in targets.tolist()),
        ])


@dataclass
class MasseDMRSConfig(MasseDMSConfig):
    rotation: float = 90.0


class MasseDMRS(MasseDMS):
    """DMRS90: match when the test is the sample rotated by 90° (``rotation``)."""

    name = "masse-dmrs"
    Config = MasseDMRSConfig
    budget = TrainBudget("deltanet", steps=200, batch_size=32, lr=1e-2, eval_every=200,
                         metric=1.0, chance=1 / 2, seconds=168)
