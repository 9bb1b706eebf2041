"""What a task is: a config dataclass, a seeded generator of (inputs, targets), metrics.

Inputs are token ids ``[B, T]`` (``tokens = True``, vocabulary ``input_size``) or float
features ``[B, T, input_size]``. Targets come in three kinds, each with its own loss:

- classification (the default): token ids ``[B, T]`` in ``range(output_size)``, with
  ``IGNORE = -100`` where a position is not scored; cross-entropy, accuracy.
- regression (``RegressionTask``): floats ``[B, T, output_size]`` (a task may append extra
  channels that only its metrics read), with **NaN** where a position is not scored;
  mean squared error over the scored entries.
- multi-label (``formal-lang``): floats in {0, 1} ``[B, T, output_size]``, NaN where not
  scored; binary cross-entropy on sigmoid outputs, exact match of the thresholded set.

``main_metric`` names the entry of ``metrics()`` that model selection uses;
``higher_is_better`` says which way it points (False for MSE or bits per character).
``budget`` (a ``TrainBudget``, declared by every registered task) gives the training flags
with which the default config learns, and what they reached.
A task with a length-generalisation protocol puts its longer set(s) in ``eval_sets()``
under ``"test_long"``.

Held-out splits, each drawn once from its own seed so none overlaps another's stream:
``test`` from ``test_seed``, a fixed training set (``train_size``) from ``test_seed + 1``,
longer test sets from ``test_seed + 2``, and the validation set (``val_size`` > 0, from the
training distribution) from ``test_seed + 3``. Model selection (learning rate, checkpoint,
early stop) reads ``val``, never ``test``. With ``val_size > 0`` every task's
``eval_sets()`` holds ``"val"`` first, whether or not its own ``eval_sets`` calls
``super()``; with the default ``val_size = 0`` nothing changes.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from fastweights.tasks.budget import TrainBudget

IGNORE = -100
VAL_SEED_OFFSET = 3  # the validation set is drawn from test_seed + 3


@dataclass
class TaskConfig:
    """Fields every task has: the held-out test set, an optional fixed training set and an
    optional validation set."""

    test_size: int = 2000
    test_seed: int = 10_000
    train_size: int | None = None  # None: a fresh sample every batch
    val_size: int = 0  # 0: no validation set


class Task:
    name: ClassVar[str]
    Config: ClassVar[type[TaskConfig]]
    tokens: ClassVar[bool] = True
    main_metric: ClassVar[str] = "accuracy"
    higher_is_better: ClassVar[bool] = True
    budget: ClassVar[TrainBudget | None] = None  # every registered task declares one
    input_size: int
    output_size: int

    def __init_subclass__(cls, **kwargs) -> None:
        # a task's own eval_sets gains the validation set, so that no task can forget it
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("eval_sets")
        if own is not None:
            @functools.wraps(own)
            def eval_sets(self) -> dict[str, tuple[Tensor, Tensor]]:
                return self._with_val(own(self))

            cls.eval_sets = eval_sets

    def __init__(self, config: TaskConfig | None = None):
        self.config = config if config is not None else self.Config()
        self._check(self.config)
        self._train: tuple[Tensor, Tensor] | None = None
        self._test: tuple[Tensor, Tensor] | None = None
        self._fixed: dict[str, tuple[Tensor, Tensor]] = {}

    def _check(self, config: TaskConfig) -> None:
        for field in ("test_size", "train_size"):
            value = getattr(config, field)
            if value is not None and value < 1:
                raise ValueError(f"{self.name}: {field} must be >= 1, got {value}")
        if isinstance(config.val_size, bool) or not isinstance(config.val_size, int) \
                or config.val_size < 0:
            raise ValueError(f"{self.name}: val_size must be an int >= 0, got "
                             f"{config.val_size!r}")

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """``n`` fresh examples drawn with ``generator``."""
        raise NotImplementedError

    def render(self, inputs: Tensor, targets: Tensor) -> str:
        """One example as text."""
        raise NotImplementedError

    def test_set(self) -> tuple[Tensor, Tensor]:
        """The fixed held-out set (seed ``test_seed``)."""
        if self._test is None:
            g = torch.Generator().manual_seed(self.config.test_seed)
            self._test = self.sample(self.config.test_size, g)
        return self._test

    def val_set(self) -> tuple[Tensor, Tensor]:
        """The fixed validation set (``val_size`` examples from the training distribution,
        seed ``test_seed + 3``): what model selection reads."""
        if self.config.val_size < 1:
            raise ValueError(f"{self.name}: no validation set (val_size is 0); set "
                             f"task.val_size")
        return self.fixed_set("val", self.config.test_seed + VAL_SEED_OFFSET,
                              lambda g: self.sample(self.config.val_size, g))

    def eval_sets(self) -> dict[str, tuple[Tensor, Tensor]]:
        """Named held-out sets the trainer evaluates; tasks with a length-generalisation
        protocol add their longer sets here (e.g. ``"test_long"``), and ``"val"`` comes
        first when ``val_size > 0``."""
        return self._with_val({"test": self.test_set()})

    def _with_val(self, sets: dict[str, tuple[Tensor, Tensor]]) -> dict[str, tuple[Tensor, Tensor]]:
        return ({"val": self.val_set()} | sets) if self.config.val_size > 0 else sets

    def fixed_set(self, key: str, seed: int, make) -> tuple[Tensor, Tensor]:
        """A held-out set other than ``test`` (e.g. ``"test_long"``), drawn once by
        ``make(generator)`` from ``seed`` and cached."""
        if key not in self._fixed:
            self._fixed[key] = make(torch.Generator().manual_seed(seed))
        return self._fixed[key]

    def train_batch(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """A training batch: fresh samples, or rows of the fixed training set when
        ``train_size`` is set (that set is drawn once, from ``test_seed + 1``)."""
        if self.config.train_size is None:
            return self.sample(batch_size, generator)
        if self._train is None:
            g = torch.Generator().manual_seed(self.config.test_seed + 1)
            self._train = self.sample(self.config.train_size, g)
        idx = torch.randint(self.config.train_size, (batch_size,), generator=generator)
        return self._train[0][idx], self._train[1][idx]

    def loss(self, logits: Tensor, targets: Tensor) -> Tensor:
        """Mean cross-entropy over scored positions. logits [..., C], targets [...] (the
        whole [B, T] or the scored positions only, see ``scored``)."""
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(),
                               targets.flatten(), ignore_index=IGNORE)

    def scored(self, targets: Tensor) -> Tensor | None:
        """The positions the training loss reads (bool [B, T]), or None for all of them.
        The trainer then runs the model's head there only and calls
        ``loss(outputs, targets[scored])``: token targets, IGNORE where unscored."""
        if targets.dtype != torch.long or targets.dim() != 2:
            return None
        at = targets != IGNORE
        return None if bool(at.all()) else at

    def metrics(self, logits: Tensor, targets: Tensor) -> dict[str, float]:
        """Accuracy over scored positions and the exact-match rate per sequence."""
        scored = targets != IGNORE
        hit = (logits.argmax(-1) == targets) | ~scored
        return {
            "accuracy": float(hit[scored].float().mean()),
            "sequence_accuracy": float(hit.all(dim=1).float().mean()),
        }

    def describe(self) -> dict:
        return {"name": self.name, **asdict(self.config)}


def masked_mse(outputs: Tensor, targets: Tensor) -> Tensor:
    """Mean of (outputs − targets)² over the entries where ``targets`` is not NaN."""
    scored = ~torch.isnan(targets)
    diff = torch.where(scored, outputs.float() - targets.float(), torch.zeros(()))
    return diff.pow(2).sum() / scored.sum().clamp(min=1)


class RegressionTask(Task):
    """Float targets ``[B, T, output_size]`` with NaN where not scored; MSE loss.

    ``metrics`` reports ``mse``; subclasses add their own (sign accuracy, a baseline).
    """

    tokens = False
    main_metric = "mse"
    higher_is_better = False

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        return masked_mse(outputs, targets[..., : self.output_size])

    def metrics(self, outputs: Tensor, targets: Tensor) -> dict[str, float]:
        return {"mse": float(masked_mse(outputs, targets[..., : self.output_size]))}
