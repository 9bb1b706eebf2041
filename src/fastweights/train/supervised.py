"""Supervised training: AdamW with warm-up + cosine decay, clipping, held-out evaluation.

``train.precision = "bf16"`` runs the forward pass and loss under ``torch.autocast`` to
bfloat16 (CUDA only; weights, gradients and optimiser stay float32; evaluation is float32);
``train.compile`` trains through ``torch.compile`` of the model when that is faster: the
first steps of the run time both (``PROBE`` steps each, after an untimed first step of each,
which for the compiled model compiles it), the faster one trains the rest of the run, and
the choice and both medians are printed, kept in the checkpoint (a resumed run keeps its
choice) and recorded in ``result.json`` under ``"compile"``. The choice rests on wall time,
so two runs of one configuration may choose differently and then differ by rounding
(evaluation always runs the model eagerly).
``train.curriculum`` (e.g. ``{"horizon": [10, 50, 100]}``) trains stage i of the run on the
task with those fields at their i-th values (stages of ``train.curriculum_every`` steps, or
the steps split evenly); the held-out sets are always the configured task's. The training
loss runs the model's head only where the task scores (``Task.scored``: the queried positions
of a recall task), except under ``train.compile``.

``Supervised`` is the trainer the run shell (``fastweights.train.shell``) drives for a task
of (inputs, targets) batches; ``train(exp, out)`` builds it and runs it. Deterministic per
seed on CPU; a killed run resumes to the metrics an uninterrupted run reaches.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel

from fastweights import tasks
from fastweights.train import distributed, shell
from fastweights.train.config import Experiment, TrainConfig, build_task, model_sizes
from fastweights.train.errors import TrainingDiverged

PROBE = 3  # timed steps of each of eager and compiled training, under train.compile


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up to 1 over ``cfg.warmup_steps``, then cosine decay to 0 at ``steps``."""
    warmup = cfg.warmup_steps
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, cfg.steps - warmup)
    return 0.5 * (1 + math.cos(math.pi * progress))


@torch.no_grad()
def evaluate(model: torch.nn.Module, task: tasks.Task, device: torch.device | None = None,
             batch_size: int = 500, sets: dict | None = None) -> dict:
    """Loss and metrics of ``model`` on each held-out set (default: ``task.eval_sets()``)."""
    was_training = model.training
    model.eval()
    out = {}
    for split, (x, y) in (sets or task.eval_sets()).items():
        logits = torch.cat([model(x[i : i + batch_size].to(device))[0].cpu()
                            for i in range(0, len(x), batch_size)])
        out[f"{split}/loss"] = float(task.loss(logits, y))
        out |= {f"{split}/{k}": v for k, v in task.metrics(logits, y).items()}
    model.train(was_training)
    return out


def _non_finite_activation(error: ValueError) -> bool:
    """Whether a model's input check failed on a NaN/Inf it computed itself."""
    text = str(error).lower()
    return "nan" in text or "inf" in text or "non-finite" in text


class Supervised:
    """One task, one model: a batch, the loss, a clipped AdamW step per ``train_step``."""

    def __init__(self, exp: Experiment, ctx: distributed.Context):
        cfg = self.cfg = exp.train
        self.ctx = ctx
        self.task = exp.build_task()
        self.stages = self._curriculum_tasks(exp)  # the training task of each stage
        self.model = exp.build_model().to(ctx.device)
        if cfg.precision == "bf16" and ctx.device.type != "cuda":
            raise ValueError(f"train.precision bf16 autocasts on CUDA only (this run is on "
                             f"{ctx.device.type}); use fp32 there")
        self.net = DistributedDataParallel(self.model) if ctx.world > 1 else self.model
        self.compiled = torch.compile(self.net) if cfg.compile else None
        # None while the probe times both (train.compile), then whether to train compiled
        self.use_compiled: bool | None = None if cfg.compile else False
        self.probe: dict[str, list[float]] = {"eager": [], "compiled": []}
        self.probe_steps = 0
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr,
                                     weight_decay=cfg.weight_decay)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: lr_factor(s, cfg))
        self.data = torch.Generator().manual_seed(cfg.seed)
        self.main_metric = self.task.main_metric
        self.higher_is_better = self.task.higher_is_better

    def _curriculum_tasks(self, exp: Experiment) -> list[tasks.Task]:
        """Every curriculum stage's task, built (and checked) before training starts."""
        curriculum, out = exp.train.curriculum, []
        for i in range(len(next(iter(curriculum.values()))) if curriculum else 0):
            fields = {k: v[i] for k, v in curriculum.items()}
            stage = build_task(exp.task.name, exp.task.fields() | fields)
            if model_sizes(stage) != model_sizes(self.task):
                raise ValueError(f"train.curriculum stage {i} ({fields}) changes the task's "
                                 f"sizes {model_sizes(self.task)} to {model_sizes(stage)}")
            out.append(stage)
        return out

    def training_task(self, step: int) -> tuple[tasks.Task, dict[str, float]]:
        """The task that step ``step`` trains on (the curriculum's stage, else the task) and
        the stage to log."""
        if not self.stages:
            return self.task, {}
        i = self.cfg.curriculum_stage(step)
        return self.stages[i], {"curriculum_stage": float(i)}

    def _compiled_now(self) -> bool:
        """Whether this step trains compiled: the probe's eager steps, then its compiled
        ones, then the faster."""
        if self.use_compiled is not None:
            return self.use_compiled
        return self.probe_steps > PROBE

    def _probed(self, compiled: bool, seconds: float, step: int) -> None:
        """Record one probe step (the first of each kind is untimed); decide after both."""
        if self.probe_steps not in (0, PROBE + 1):
            self.probe["compiled" if compiled else "eager"].append(seconds)
        self.probe_steps += 1
        if self.probe_steps < 2 * PROBE + 2:
            return
        eager, fast = (1e3 * statistics.median(self.probe[k]) for k in ("eager", "compiled"))
        self.use_compiled = fast < eager
        if self.ctx.world > 1:  # every rank follows rank 0's timing
            choice = torch.tensor([float(self.use_compiled)], device=self.ctx.device)
            torch.distributed.broadcast(choice, 0)
            self.use_compiled = bool(choice.item())
        if self.ctx.is_main:
            print(f"train.compile: eager {eager:.1f} ms/step, compiled {fast:.1f} ms/step "
                  f"(median of {PROBE} steps each): training "
                  f"{'compiled' if self.use_compiled else 'eagerly'} from step {step + 1}",
                  file=sys.stderr, flush=True)

    def train_step(self, step: int) -> dict[str, float]:
        compiled = self._compiled_now()
        start = time.perf_counter()
        out = self._step(step, compiled)
        if self.use_compiled is None:
            self._probed(compiled, time.perf_counter() - start, step)
        return out

    def _step(self, step: int, compiled: bool) -> dict[str, float]:
        task, logged = self.training_task(step)
        x, y = task.train_batch(self.cfg.batch_size, self.data)
        x, y = self.ctx.shard(x).to(self.ctx.device), self.ctx.shard(y).to(self.ctx.device)
        lr = self.sched.get_last_lr()[0]
        try:
            with torch.autocast(self.ctx.device.type, torch.bfloat16,
                                enabled=self.cfg.precision == "bf16"):
                # the head on the scored positions only; compiled, every position (a
                # data-dependent row count would break the graph)
                at = None if compiled else task.scored(y)
                net = self.compiled if compiled else self.net
                loss = self.task.loss(net(x, scored=at)[0].float(),
                                      y if at is None else y[at])
        except ValueError as e:
            if step > 1 and _non_finite_activation(e):
                raise TrainingDiverged(step, "activations", str(e)) from None
            raise
        value = self.ctx.mean(loss)
        if not math.isfinite(value):
            raise TrainingDiverged(step, "loss", f"loss = {value}")
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(),
                                                         self.cfg.clip))
        if not math.isfinite(grad_norm):
            raise TrainingDiverged(step, "gradient norm", f"gradient norm = {grad_norm}")
        self.opt.step()
        self.sched.step()
        bad = [n for n, p in self.model.named_parameters() if not bool(torch.isfinite(p).all())]
        if bad:
            raise TrainingDiverged(step, f"parameter {bad[0]}")
        return {"train/loss": value, "lr": lr} | logged

    def evaluate(self) -> dict[str, float]:
        return evaluate(self.model, self.task, self.ctx.device)

    def compile_record(self) -> dict:
        """The compile probe's medians (ms/step) and choice (None: not decided yet)."""
        return {"compiled": self.use_compiled} | {
            f"{k}_ms": 1e3 * statistics.median(v) for k, v in self.probe.items() if v}

    def state_dict(self) -> dict:
        return {"optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
                "data_rng": self.data.get_state()} | (
                    {"compile": self.compile_record()} if self.cfg.compile else {})

    def load_state_dict(self, state: dict) -> None:
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        self.data.set_state(state["data_rng"])
        if self.cfg.compile and state.get("compile", {}).get("compiled") is not None:
            # keep the choice; its medians are restored for result.json
            self.use_compiled = state["compile"]["compiled"]
            self.probe = {k: [state["compile"][f"{k}_ms"] / 1e3]
                          for k in ("eager", "compiled") if f"{k}_ms" in state["compile"]}

    def summary(self) -> dict:
        return {"params": self.model.num_params(), "state_size": self.model.state_size(),
                "state_grows": self.model.state_grows} | (
                    {"compile": self.compile_record()} if self.cfg.compile else {})


def train(exp: Experiment, out: str | Path | None = None, progress: bool | str = True,
          resume: bool = False, overwrite: bool = False) -> dict:
    """Train ``exp``; return the run summary (params, state size, time, final/best eval,
    history). ``out``: the run folder (None: write nothing). With ``resume``, continue from
    its last good checkpoint, or return the recorded summary if the run already finished.
    ``overwrite`` replaces a folder that holds another experiment (else: ValueError).

    torch's thread count and global RNG are restored when it returns.
    """
    cfg = exp.train
    if cfg.warmup_steps >= cfg.steps:
        warnings.warn(f"train.warmup ({cfg.warmup_steps} steps) >= train.steps "
                      f"({cfg.steps}): the learning rate never leaves warm-up", stacklevel=2)
    threads, rng = torch.get_num_threads(), torch.get_rng_state()
    try:
        ctx = distributed.setup(cfg.device)
        torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        trainer = Supervised(exp, ctx)
        return shell.run(trainer, exp, out, progress, resume, overwrite, ctx)
    finally:
        torch.set_num_threads(threads)
        torch.set_rng_state(rng)
