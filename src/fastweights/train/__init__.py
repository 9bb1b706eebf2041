"""Training: the typed experiment, the run shell, its trainers, sweeps, run loading.

- ``config``: ``Experiment(model, task, train)`` resolved once from TOML + dotted flags.
- ``shell``: ``run(trainer, exp, out, progress, resume)``, the run shell: run folder and its
  lock, checkpoints, resume, evaluation cadence, early stop, divergence, progress.
- ``supervised``: ``Supervised``, the trainer of (inputs, targets) tasks, and ``train(exp,
  out, progress, resume)``, which builds it and runs the shell.
- ``load``: ``load_run(dir, checkpoint="best"|"last")``.
- ``sweep`` / ``compare`` / ``distributed``: grids of runs, side-by-side runs, torchrun.

A trainer is any object the shell can drive (supervised now; reinforcement learning adds its
own on the same shell)::

    model: torch.nn.Module          # its weights are saved by the shell (ckpt.pt, best.pt)
    main_metric: str                # evaluate() returns f"test/{main_metric}"
    higher_is_better: bool
    train_step(step) -> dict[str, float]
        # one update (step counts from 1); keys under "train/" are averaged over the steps
        # since the last evaluation, others (e.g. "lr") keep their last value; a non-finite
        # value, or a raised TrainingDiverged(step, quantity), stops the run as diverged
    evaluate() -> dict[str, float]  # held-out metrics, at every train.eval_every steps
    state_dict() -> dict            # all but the weights needed to resume exactly
    load_state_dict(state) -> None  # (optimiser, scheduler, data RNG): tensors and plain
                                    # data only, as checkpoints are loaded weights_only
    summary() -> dict               # fixed facts for result.json (params, state size)

Build the trainer after seeding (``torch.manual_seed(exp.train.seed)``), then call
``shell.run(trainer, exp, out, progress, resume)``.
"""

from fastweights.train.config import Experiment, TrainConfig, resolve
from fastweights.train.errors import InvalidFile, RunError, TrainingDiverged
from fastweights.train.load import Run, load_run
from fastweights.train.shell import run
from fastweights.train.supervised import Supervised, evaluate, train

__all__ = ["Experiment", "InvalidFile", "Run", "RunError", "Supervised", "TrainConfig",
           "TrainingDiverged", "evaluate", "load_run", "resolve", "run", "train"]
