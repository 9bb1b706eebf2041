"""A task's budget that learns: the ``fastweights train`` flags with which its default config
learns with a given model, and what that run measured.

Every registered task declares one (``Task.budget``); ``fastweights tasks`` prints it, e.g.

    --steps 300 --batch-size 32 --lr 0.01 (deltanet: accuracy 0.957, chance 0.125; 45 s)

``metric`` is the task's main test metric at the end of the run and ``chance`` that metric
for a model that ignores what it should remember (a uniform guess among the answers a
scored position can take, or the best constant prediction); ``seconds`` is the wall time
of the whole command at one thread, measured on a 2-core CPU shared with other work (an
idle machine is faster). Every budget was measured with ``fastweights train --task NAME``
and its flags, at the default seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class TrainBudget:
    model: str  # the registry name of the model the budget is for
    steps: int
    batch_size: int
    lr: float
    metric: float  # the main test metric the run reached
    chance: float  # the main metric of a guess that remembers nothing
    seconds: float  # wall time of the command at one thread
    eval_every: int | None = None  # None: the trainer's default

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "eval_every"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"budget {name} must be an int >= 1, got {value!r}")
        for name in ("lr", "seconds"):
            if not (getattr(self, name) > 0 and math.isfinite(getattr(self, name))):
                raise ValueError(f"budget {name} must be positive and finite, got "
                                 f"{getattr(self, name)!r}")
        if not (math.isfinite(self.metric) and math.isfinite(self.chance)):
            raise ValueError(f"budget metric and chance must be finite, got {self.metric!r}, "
                             f"{self.chance!r}")

    def flags(self) -> list[str]:
        """The ``fastweights train`` arguments of this budget (``--model`` included)."""
        out = ["--model", self.model, "--steps", str(self.steps),
               "--batch-size", str(self.batch_size), "--lr", f"{self.lr:g}"]
        return out + (["--eval-every", str(self.eval_every)] if self.eval_every else [])

    def describe(self, metric_name: str) -> str:
        """One line: the flags, then the model, the metric it reached, chance and time."""
        took = f"{self.seconds:.0f} s" if self.seconds < 120 else f"{self.seconds / 60:.1f} min"
        return (f"{' '.join(self.flags()[2:])} ({self.model}: {metric_name} "
                f"{self.metric:.3f}, chance {self.chance:.3f}; {took})")
