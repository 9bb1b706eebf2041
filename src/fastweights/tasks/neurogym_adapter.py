"""Any NeuroGym environment as a task: ``build("neurogym:DelayMatchSample-v0")``.

Optional: needs the ``neurogym`` package (``pip install neurogym``), which is imported only
when such a task is built. NeuroGym (Molano-Mazón et al. 2022) is a library of cognitive
neuroscience tasks written as trial-based environments; for supervised training, as in
NeuroGym's own ``Dataset``, trials are drawn one after another and concatenated into
sequences of ``seq_len`` steps. Inputs are the environment's observations (float features),
targets its ground-truth action at every step (0 is fixation in most tasks), all scored.

Seeding: the environment's random state is reseeded from the torch generator for every call
of ``sample``, so a generator seed fixes the data. Trials are made one at a time in Python
(that is how NeuroGym makes them), so this adapter is slower than the built-in tasks.

Metrics: ``accuracy`` over all steps, ``sequence_accuracy``, and the main metric
``decision_accuracy``, the accuracy on steps whose target is not fixation (0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from fastweights.tasks._common import check
from fastweights.tasks.base import Task, TaskConfig


@dataclass
class NeuroGymConfig(TaskConfig):
    env: str = "DelayMatchSample-v0"
    seq_len: int = 100
    env_kwargs: dict = field(default_factory=dict)  # passed to neurogym.make
    test_size: int = 500


def _import_neurogym():
    try:
        import neurogym
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("the neurogym:<EnvName> tasks need the optional package neurogym "
                          "(pip install neurogym)") from err
    return neurogym


class NeuroGymTask(Task):
    name = "neurogym"
    Config = NeuroGymConfig
    tokens = False
    main_metric = "decision_accuracy"

    def __init__(self, config: NeuroGymConfig | None = None):
        super().__init__(config)
        ngym = _import_neurogym()
        try:
            self.env = ngym.make(self.config.env, **self.config.env_kwargs).unwrapped
        except Exception as err:
            raise ValueError(f"neurogym: env {self.config.env!r} could not be made: "
                             f"{err}") from err
        self.name = f"neurogym:{self.config.env}"
        self.input_size = int(np.prod(self.env.observation_space.shape))
        check(self.name, hasattr(self.env.action_space, "n"),
              f"env must have a discrete action space, got {self.env.action_space}")
        self.output_size = int(self.env.action_space.n)

    def _check(self, config: NeuroGymConfig) -> None:
        super()._check(config)
        check("neurogym", config.seq_len >= 1, f"seq_len must be >= 1, got {config.seq_len}")

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        L = self.config.seq_len
        self.env.seed(int(torch.randint(2**31 - 1, (1,), generator=generator)))
        inputs = np.zeros((n, L, self.input_size), dtype=np.float32)
        targets = np.zeros((n, L), dtype=np.int64)
        for row in range(n):
            t = 0
            while t < L:
                self.env.new_trial()
                ob = np.asarray(self.env.ob, dtype=np.float32).reshape(len(self.env.ob), -1)
                gt = np.asarray(self.env.gt).reshape(len(self.env.gt))
                k = min(len(ob), L - t)
                inputs[row, t:t + k], targets[row, t:t + k] = ob[:k], gt[:k]
                t += k
        return torch.from_numpy(inputs), torch.from_numpy(targets)

    def metrics(self, logits: Tensor, targets: Tensor) -> dict[str, float]:
        out = super().metrics(logits, targets)
        decide = targets > 0
        hit = logits.argmax(-1) == targets
        out["decision_accuracy"] = float(hit[decide].float().mean()) if decide.any() else 1.0
        return out

    def render(self, inputs: Tensor, targets: Tensor) -> str:
        gt = "".join(str(int(v)) if v < 10 else "+" for v in targets.tolist())
        return f"{self.config.env}: {inputs.shape[0]} steps of {self.input_size} inputs; " \
               f"ground truth {gt}"
