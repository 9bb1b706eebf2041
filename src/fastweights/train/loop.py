"""The training loop: one model, one task, AdamW with warm-up + cosine decay, clipping, eval.

A run folder holds ``config.json`` (the resolved experiment and the command line),
``metrics.jsonl`` (one line per evaluation), ``ckpt.pt`` / ``ckpt.prev.pt`` (model,
optimiser, scheduler, RNG states and step, written at every evaluation), ``best.pt`` (the
weights with the best main test metric) and, once finished, ``result.json``. A killed run
resumes from its last checkpoint and ends with the metrics an uninterrupted run reaches.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from fastweights import models, tasks
from fastweights.train import distributed
from fastweights.train.checkpoint import BEST, atomic_save, load_checkpoint, save_checkpoint
from fastweights.train.config import Experiment, TrainConfig

RESULT = "result.json"


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or Inf; the last good checkpoint is kept."""


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up to 1 over ``warmup`` steps, then cosine decay to 0 at ``steps``."""
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
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


def better(a: float, b: float | None, higher: bool) -> bool:
    return b is None or (a > b if higher else a < b)


def train(exp: Experiment, out: str | Path | None = None, progress: bool = True,
          resume: bool = False) -> dict:
    """Train ``exp``; return the run summary (params, state size, time, final/best eval,
    history). With ``resume``, continue from the run folder's last good checkpoint, or
    return the recorded summary if the run already finished. Deterministic per seed on CPU.
    """
    cfg = exp.train
    ctx = distributed.setup(cfg.device)
    torch.set_num_threads(cfg.threads)
    task = tasks.build(exp.task, **exp.task_config)
    torch.manual_seed(cfg.seed)
    model = models.build(exp.model, **exp.model_sizes(task), **exp.model_config).to(ctx.device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, cfg))
    data_gen = torch.Generator().manual_seed(cfg.seed)
    metric, higher = f"test/{task.main_metric}", task.higher_is_better
    run = {"step": 0, "history": [], "running": None, "best": None, "elapsed": 0.0}

    run_dir = Path(out) if out is not None else None
    writer = ctx.is_main and run_dir is not None
    if run_dir is not None and resume and (run_dir / RESULT).exists():
        return json.loads((run_dir / RESULT).read_text())
    ckpt = load_checkpoint(run_dir) if run_dir is not None and resume else None
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        data_gen.set_state(ckpt["data_rng"])
        torch.set_rng_state(ckpt["torch_rng"])
        run = ckpt["run"]
    if writer:
        run_dir.mkdir(parents=True, exist_ok=True)
        if ckpt is None:
            config = exp.to_dict() | {"command": sys.argv}
            (run_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        # rows after the checkpoint belong to the killed run's lost steps: rewrite from it
        (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n"
                                                       for r in run["history"]))
    board = _tensorboard(run_dir) if cfg.tensorboard and writer else None
    net = DistributedDataParallel(model) if ctx.world > 1 else model

    start = time.perf_counter() - run["elapsed"]
    bar = tqdm(total=cfg.steps, initial=run["step"], desc=f"{exp.model} on {exp.task}",
               disable=not (progress and ctx.is_main), dynamic_ncols=True, mininterval=1.0)
    for step in range(run["step"] + 1, cfg.steps + 1):
        x, y = task.train_batch(cfg.batch_size, data_gen)
        x, y = ctx.shard(x).to(ctx.device), ctx.shard(y).to(ctx.device)
        loss = task.loss(net(x)[0], y)
        value = ctx.mean(loss)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip))
        if math.isfinite(value) and math.isfinite(grad_norm):
            opt.step()
            sched.step()
        if not (math.isfinite(value) and math.isfinite(grad_norm)) or not all(
                bool(torch.isfinite(p).all()) for p in model.parameters()):
            last = f"; the last good checkpoint (step {run['step']}) is kept in {run_dir}" \
                if run_dir is not None else ""
            raise TrainingDiverged(f"{exp.model} on {exp.task}: training diverged at step "
                                   f"{step} (loss {value}, gradient norm {grad_norm}, lr "
                                   f"{cfg.lr}): non-finite values{last}")
        run["running"] = value if run["running"] is None else 0.95 * run["running"] + 0.05 * value
        bar.update()
        if step % cfg.eval_every and step != cfg.steps:
            continue
        row = {"step": step, "train/loss": run["running"], "lr": sched.get_last_lr()[0],
               "time": time.perf_counter() - start} | evaluate(model, task, ctx.device)
        run["history"].append(row)
        run["step"], run["elapsed"] = step, row["time"]
        is_best = better(row[metric], run["best"], higher)
        if is_best:
            run["best"] = row[metric]
        bar.set_postfix(loss=f"{run['running']:.3f}", **{task.main_metric: f"{row[metric]:.3f}"})
        if writer:
            with open(run_dir / "metrics.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")
            if board is not None:
                for k, v in row.items():
                    board.add_scalar(k, v, step)
            if is_best:
                atomic_save({"model": model.state_dict(), "step": step, "metrics": row},
                            run_dir / BEST)
            save_checkpoint({"model": model.state_dict(), "optimizer": opt.state_dict(),
                             "scheduler": sched.state_dict(), "data_rng": data_gen.get_state(),
                             "torch_rng": torch.get_rng_state(), "run": run, "step": step},
                            run_dir)
        if cfg.target is not None and not better(cfg.target, row[metric], higher):
            break
    bar.close()
    if board is not None:
        board.close()
    summary = {"model": exp.model, "task": exp.task, "params": model.num_params(),
               "state_size": model.state_size(), "state_grows": model.state_grows,
               "time": run["elapsed"], "steps": run["step"],
               "main_metric": task.main_metric, "higher_is_better": higher,
               "final": run["history"][-1], "best": run["best"], "history": run["history"]}
    if writer:
        tmp = run_dir / (RESULT + ".tmp")
        tmp.write_text(json.dumps(summary) + "\n")
        tmp.replace(run_dir / RESULT)
    return summary


def _tensorboard(run_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ValueError("train.tensorboard needs the tensorboard package: "
                         "pip install 'fastweights[tensorboard]'") from None
    return SummaryWriter(str(run_dir / "tensorboard"))
