"""The run shell: everything around the training steps, for any kind of step.

``run(trainer, exp, out)`` owns the run folder (lock, ``config.json``, ``metrics.jsonl``,
checkpoints, ``best.pt``, ``result.json``), resume, the evaluation cadence, early stopping,
divergence, progress (a bar, or with a label one line per evaluation) and the loggers
(TensorBoard, Weights & Biases). The trainer (``fastweights.train.Trainer``) owns the
learning: one ``train_step`` at a time, ``evaluate``, and its own state. Early stopping
(``train.target``) and ``best.pt`` read ``val/<main metric>`` when the evaluation has a
validation split, ``test/<main metric>`` otherwise.

A checkpoint is ``{"step", "model", "trainer", "run", "torch_rng"}``: the weights, the
trainer's ``state_dict()`` (optimiser, scheduler, data RNG), the shell's record (history,
best metric, elapsed time) and the global RNG. Every file is written through
a temporary file and a rename; a failed write (a full disk) stops the run with a
``RunWriteError`` that names the file and says the previous checkpoint is intact.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from fastweights.train import distributed
from fastweights.train.checkpoint import (
    BEST,
    LATEST,
    PREVIOUS,
    atomic_save,
    load_checkpoint,
    save_checkpoint,
)
from fastweights.train.config import Experiment
from fastweights.train.errors import InvalidFile, RunWriteError, TrainingDiverged
from fastweights.train.lock import run_lock

RESULT, CONFIG, METRICS = "result.json", "config.json", "metrics.jsonl"
RUN_FILES = (CONFIG, METRICS, LATEST, PREVIOUS, BEST, RESULT, "tensorboard", "wandb")
#: TrainConfig fields that ``--resume`` may change (recorded in config.json): the rest would
#: make the resumed run another experiment.
RESUMABLE = ("steps", "eval_every", "target", "threads", "device", "tensorboard", "wandb",
             "compile")


def same_experiment(run_dir: Path, exp: Experiment) -> list[str]:
    """The fields in which ``run_dir``'s recorded experiment differs from ``exp`` (empty:
    none, or no record). Both are compared fully resolved, so a record of the older layout
    or one that leaves defaults out compares equal to the same experiment."""
    path = run_dir / CONFIG
    if not path.exists():
        return []
    try:
        saved = Experiment.from_dict(json.loads(path.read_text())).to_dict()
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return [CONFIG]
    diff = []
    for section, new in exp.to_dict().items():
        old = saved[section]
        diff += [f"{section}.{k}" for k in sorted(set(new) | set(old)) if new.get(k) != old.get(k)]
    return diff


def _prepare(run_dir: Path, exp: Experiment, resume: bool, overwrite: bool) -> None:
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"run folder {run_dir} is an existing file, not a folder")
    diff = same_experiment(run_dir, exp)
    if diff and not resume and not overwrite:
        raise ValueError(f"{run_dir} holds a different experiment (differs in "
                         f"{', '.join(diff[:6])}{', ...' if len(diff) > 6 else ''}); choose "
                         f"another output folder, or pass --overwrite to replace it")


class _Writer:
    """Writes of one run folder; an OSError becomes a RunWriteError with the way out."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir

    @contextlib.contextmanager
    def writing(self, name: str):
        try:
            yield
        except OSError as e:
            ckpt = self.run_dir / LATEST
            kept = (f"the previous checkpoint {ckpt} is intact" if ckpt.exists()
                    else "no checkpoint had been written yet")
            raise RunWriteError(f"could not write {self.run_dir / name} ({e.strerror or e}); "
                                f"{kept}; free space, then continue with: fastweights train "
                                f"--resume {self.run_dir}") from None


def run(trainer, exp: Experiment, out: str | Path | None = None, progress: bool | str = True,
        resume: bool = False, overwrite: bool = False,
        ctx: distributed.Context | None = None) -> dict:
    """Run ``trainer`` for ``exp.train.steps`` steps; return the run summary.

    ``out`` is the run folder (None: nothing is written). ``progress``: True, a bar; a
    string, one line per evaluation labelled with it (for runs in worker processes); False,
    nothing. With ``resume``, continue from its
    last good checkpoint, or return the recorded summary when the run already finished
    (more steps than it finished with continue it). A folder holding another experiment is
    refused unless ``overwrite``.
    """
    ctx = ctx or distributed.Context()
    run_dir = Path(out) if out is not None else None
    writer = ctx.is_main and run_dir is not None
    if run_dir is not None:
        _prepare(run_dir, exp, resume, overwrite)
    with run_lock(run_dir) if writer else contextlib.nullcontext():
        return _run(trainer, exp, run_dir, writer, progress, resume, overwrite, ctx)


def _run(trainer, exp, run_dir, writer, progress, resume, overwrite, ctx) -> dict:
    cfg = exp.train
    if run_dir is not None and resume and (run_dir / RESULT).exists():
        try:
            done = json.loads((run_dir / RESULT).read_text())
        except (OSError, ValueError):
            raise InvalidFile(f"{run_dir / RESULT} is not valid JSON") from None
        if done.get("steps", 0) >= cfg.steps or done.get("stopped_early"):
            return done
    elif writer and overwrite and not resume:
        for name in RUN_FILES:
            path = run_dir / name
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    record = {"step": 0, "history": [], "interval": {}, "best": None, "elapsed": 0.0}
    ckpt = load_checkpoint(run_dir) if run_dir is not None and resume else None
    if ckpt is not None:
        try:
            trainer.model.load_state_dict(ckpt["model"])
            trainer.load_state_dict(ckpt["trainer"])
            record = ckpt["run"]
            torch.set_rng_state(ckpt["torch_rng"])
        except (KeyError, RuntimeError, ValueError, TypeError) as e:
            raise InvalidFile(f"{run_dir / LATEST} does not fit this experiment "
                              f"({type(e).__name__}: {str(e).splitlines()[0][:120]})") from None
    io = _Writer(run_dir) if writer else None
    higher = trainer.higher_is_better
    if writer:
        with io.writing(CONFIG):
            config = exp.to_dict() | {"command": sys.argv}
            if ckpt is not None and (run_dir / CONFIG).exists():
                config = _record_changes(json.loads((run_dir / CONFIG).read_text()), config,
                                         record["step"])
            _write_text(run_dir / CONFIG, json.dumps(config, indent=2) + "\n")
        with io.writing(METRICS):  # rows after the checkpoint belong to lost steps: rewrite
            _write_text(run_dir / METRICS, "".join(json.dumps(r) + "\n"
                                                    for r in record["history"]))
        (run_dir / RESULT).unlink(missing_ok=True)
    board = _tensorboard(run_dir) if cfg.tensorboard and writer else None
    wandb_run = _wandb(run_dir, exp) if cfg.wandb and writer else None
    label = progress if isinstance(progress, str) else None
    if ctx.world > 1 and ctx.is_main and progress:
        print(f"torchrun: {ctx.world} ranks on {ctx.device.type}, "
              f"{cfg.batch_size // ctx.world} rows of each global batch of {cfg.batch_size} "
              f"per rank", file=sys.stderr, flush=True)

    start = time.perf_counter() - record["elapsed"]
    bar = tqdm(total=cfg.steps, initial=record["step"],
               desc=f"{exp.model.name} on {exp.task.name}",
               disable=not (progress is True and ctx.is_main), dynamic_ncols=True,
               mininterval=1.0)
    stopped_early = False
    try:
        for step in range(record["step"] + 1, cfg.steps + 1):
            scalars = trainer.train_step(step)
            for key, value in scalars.items():
                if not math.isfinite(value):
                    raise TrainingDiverged(step, key, f"{key} = {value}")
                if key.startswith("train/"):
                    total, n = record["interval"].get(key, (0.0, 0))
                    record["interval"][key] = (total + value, n + 1)
                else:
                    record["interval"][key] = (value, 1)
            bar.update()
            if step % cfg.eval_every and step != cfg.steps:
                continue
            means = {k: total / n for k, (total, n) in record["interval"].items()}
            record["interval"] = {}
            row = ({"step": step} | means | {"time": time.perf_counter() - start}
                   | trainer.evaluate())
            record["history"].append(row)
            record["step"], record["elapsed"] = step, row["time"]
            # early stopping and best.pt read the validation split when the task has one
            metric = next(m for m in (f"val/{trainer.main_metric}",
                                      f"test/{trainer.main_metric}") if m in row)
            is_best = _better(row[metric], record["best"], higher)
            if is_best:
                record["best"] = row[metric]
            shown = {k.replace("/", " "): f"{row[k]:.3f}" for k in
                     [k for k in means if k.startswith("train/")][:1] + [metric]}
            bar.set_postfix(shown)
            if label and ctx.is_main:
                print(f"  {label}: step {step}/{cfg.steps}, "
                      + ", ".join(f"{k} {v}" for k, v in shown.items())
                      + f" ({row['time']:.0f} s)", flush=True)
            if writer:
                with io.writing(METRICS):
                    with open(run_dir / METRICS, "a") as f:
                        f.write(json.dumps(row) + "\n")
                if board is not None:
                    for k, v in row.items():
                        board.add_scalar(k, v, step)
                if wandb_run is not None:
                    wandb_run.log(row, step=step)
                weights = trainer.model.state_dict()
                if is_best:
                    with io.writing(BEST):
                        atomic_save({"model": weights, "step": step, "metrics": row},
                                    run_dir / BEST)
                with io.writing(LATEST + ".tmp"):
                    save_checkpoint({"step": step, "model": weights,
                                     "trainer": trainer.state_dict(), "run": record,
                                     "torch_rng": torch.get_rng_state()}, run_dir)
            if cfg.target is not None and not _better(cfg.target, row[metric], higher):
                stopped_early = True
                break
    except TrainingDiverged as e:
        kept = (f"; the last good checkpoint (step {record['step']}) is kept in {run_dir}"
                if writer and record["step"] else "")
        raise TrainingDiverged(e.step, e.quantity, f"{e.detail}; {exp.model.name} on "
                               f"{exp.task.name}, lr {cfg.lr:g}{kept}") from None
    finally:
        bar.close()
        if board is not None:
            board.close()
        if wandb_run is not None:
            wandb_run.finish()
    summary = {"model": exp.model.name, "task": exp.task.name, **trainer.summary(),
               "time": record["elapsed"], "steps": record["step"],
               "stopped_early": stopped_early, "main_metric": trainer.main_metric,
               "higher_is_better": higher, "final": record["history"][-1],
               "best": record["best"], "history": record["history"]}
    if writer:
        with io.writing(RESULT):
            _write_text(run_dir / RESULT, json.dumps(summary) + "\n")
    return summary


def _record_changes(old: dict, new: dict, step: int) -> dict:
    """``new`` with ``old``'s command and its list of resumes that changed settings, plus
    this one's: ``{"at_step": N, "train.steps": [old, new], ...}``."""
    before = old.get("train", {})
    changed = {f"train.{k}": [before.get(k), v] for k, v in json.loads(json.dumps(
        new["train"])).items() if before.get(k) != v}
    changes = old.get("changes", []) + ([{"at_step": step} | changed] if changed else [])
    return new | {"command": old.get("command"), "changes": changes}


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _better(a: float, b: float | None, higher: bool) -> bool:
    return b is None or (a > b if higher else a < b)


def _tensorboard(run_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ValueError("train.tensorboard needs the tensorboard package: "
                         "pip install 'fastweights[tensorboard]'") from None
    return SummaryWriter(str(run_dir / "tensorboard"))


def _wandb(run_dir: Path, exp: Experiment):
    """A Weights & Biases run in ``run_dir/wandb``, offline unless ``WANDB_MODE`` is set
    (``wandb sync`` uploads an offline run later)."""
    try:
        import wandb
    except ImportError:
        raise ValueError("train.wandb needs the wandb package: "
                         "pip install 'fastweights[wandb]'") from None
    return wandb.init(project=os.environ.get("WANDB_PROJECT", "fastweights"),
                      name=run_dir.name, dir=str(run_dir), config=exp.to_dict(),
                      mode=os.environ.get("WANDB_MODE", "offline"), reinit=True)
