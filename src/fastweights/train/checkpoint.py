"""Checkpoints that survive a kill at any moment.

A save writes ``ckpt.pt.tmp``, keeps the previous checkpoint as ``ckpt.prev.pt`` and renames
the new file into place (a rename is atomic), so a run folder always holds at least one
complete checkpoint. Loading falls back to the previous one when the latest is missing,
truncated or corrupted, and says so.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

LATEST, PREVIOUS, BEST = "ckpt.pt", "ckpt.prev.pt", "best.pt"


def _write_synced(obj: dict, path: Path) -> None:
    with open(path, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())


def atomic_save(obj: dict, path: Path) -> None:
    """Write ``obj`` to ``path`` through a temporary file and a rename."""
    tmp = path.with_name(path.name + ".tmp")
    _write_synced(obj, tmp)
    os.replace(tmp, path)


def save_checkpoint(obj: dict, run_dir: Path) -> None:
    """Save the latest checkpoint, keeping the one it replaces as the previous."""
    tmp = run_dir / (LATEST + ".tmp")
    _write_synced(obj, tmp)
    if (run_dir / LATEST).exists():
        os.replace(run_dir / LATEST, run_dir / PREVIOUS)
    os.replace(tmp, run_dir / LATEST)


def _try_load(path: Path) -> tuple[dict | None, str]:
    if not path.exists():
        return None, f"{path.name} is missing"
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # truncated or corrupted files raise many exception types
        return None, f"{path.name} is unreadable ({type(e).__name__}: {str(e)[:80]})"
    if not isinstance(obj, dict) or "step" not in obj:
        return None, f"{path.name} is not a fastweights checkpoint"
    return obj, ""


def load_checkpoint(run_dir: Path) -> dict | None:
    """The newest good checkpoint of ``run_dir``, or None when there is none."""
    obj, why = _try_load(run_dir / LATEST)
    if obj is not None:
        return obj
    prev, why_prev = _try_load(run_dir / PREVIOUS)
    if prev is not None:
        print(f"warning: {run_dir}: {why}; resuming from the previous checkpoint "
              f"(step {prev['step']})", file=sys.stderr)
        return prev
    if (run_dir / LATEST).exists() or (run_dir / PREVIOUS).exists():
        print(f"warning: {run_dir}: {why}, {why_prev}; starting from scratch", file=sys.stderr)
    return None
