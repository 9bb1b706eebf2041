"""The training loop: one model, one task, AdamW with warm-up + cosine decay, clipping, eval.

A run folder holds ``config.json`` (the resolved configs and the command line),
``metrics.jsonl`` (one line per evaluation) and ``model.pt`` (the final weights).
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from fastweights import models, tasks


@dataclass
class TrainConfig:
    steps: int = 2000
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.01
    warmup: int = 100
    clip: float = 1.0
    eval_every: int = 100
    seed: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "eval_every", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"train.lr must be a positive finite number, got {self.lr}")
        if self.warmup < 0 or self.clip <= 0:
            raise ValueError(f"train.warmup must be >= 0 and train.clip > 0, "
                             f"got {self.warmup}, {self.clip}")


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up to 1 over ``warmup`` steps, then cosine decay to 0 at ``steps``."""
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return 0.5 * (1 + math.cos(math.pi * progress))


@torch.no_grad()
def evaluate(model: models.SequenceModel, task: tasks.Task, batch_size: int = 500) -> dict:
    """Loss and metrics of ``model`` on each of the task's held-out sets."""
    model.eval()
    out = {}
    for split, (x, y) in task.eval_sets().items():
        logits = torch.cat([model(x[i : i + batch_size])[0]
                            for i in range(0, len(x), batch_size)])
        out[f"{split}/loss"] = float(task.loss(logits, y))
        out |= {f"{split}/{k}": v for k, v in task.metrics(logits, y).items()}
    model.train()
    return out


def train(model_name: str, task_name: str, model_config: dict | None = None,
          task_config: dict | None = None, train_config: TrainConfig | None = None,
          out: str | Path | None = None, progress: bool = True) -> dict:
    """Train ``model_name`` on ``task_name``; return a summary of the run.

    The summary holds the parameter count, state size, wall time, the final evaluation
    (``final``) and every evaluation (``history``). Deterministic for a given seed on CPU.
    """
    cfg = train_config or TrainConfig()
    task = tasks.build(task_name, **(task_config or {}))
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    model_config = dict(model_config or {}) | dict(
        input_size=task.input_size, output_size=task.output_size, tokens=task.tokens)
    model = models.build(model_name, **model_config)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, cfg))
    data_gen = torch.Generator().manual_seed(cfg.seed)

    run_dir = Path(out) if out is not None else None
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        config = {"model": model_name, "model_config": dataclasses.asdict(model.config),
                  "task": task_name, "task_config": dataclasses.asdict(task.config),
                  "train": dataclasses.asdict(cfg), "command": sys.argv}
        (run_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        (run_dir / "metrics.jsonl").write_text("")

    history, start, running = [], time.perf_counter(), None
    bar = tqdm(range(1, cfg.steps + 1), desc=f"{model_name} on {task_name}", disable=not progress,
               dynamic_ncols=True)
    for step in bar:
        x, y = task.train_batch(cfg.batch_size, data_gen)
        loss = task.loss(model(x)[0], y)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite training loss {float(loss)} at step {step}; "
                                     f"try a lower learning rate than {cfg.lr}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        sched.step()
        value = loss.item()
        running = value if running is None else 0.95 * running + 0.05 * value
        if step % cfg.eval_every == 0 or step == cfg.steps:
            row = {"step": step, "train/loss": running, "lr": sched.get_last_lr()[0],
                   "time": time.perf_counter() - start} | evaluate(model, task)
            history.append(row)
            if run_dir is not None:
                with open(run_dir / "metrics.jsonl", "a") as f:
                    f.write(json.dumps(row) + "\n")
            bar.set_postfix(loss=f"{running:.3f}",
                            **{task.main_metric: f"{row['test/' + task.main_metric]:.3f}"})
    bar.close()
    if run_dir is not None:
        torch.save({"model": model.state_dict(), "step": cfg.steps}, run_dir / "model.pt")
    return {"model": model_name, "task": task_name, "params": model.num_params(),
            "state_size": model.state_size(), "time": time.perf_counter() - start,
            "main_metric": task.main_metric, "final": history[-1], "history": history}
