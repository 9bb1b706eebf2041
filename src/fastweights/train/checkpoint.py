"""Checkpoints that survive a kill at any moment and never run code when loaded.

A save writes ``ckpt.pt.tmp``, keeps the previous checkpoint as ``ckpt.prev.pt`` and renames
the new file into place (a rename is atomic), so a run folder always holds at least one
complete checkpoint. Loading falls back to the previous one when the latest is missing,
truncated, corrupted or not a checkpoint, and says so.

Files are read with ``torch.load(weights_only=True)``: tensors, numbers, strings and plain
containers only (all a checkpoint holds: weights, optimiser and scheduler state, RNG states,
the run's history). A pickle that asks for anything else is refused before any of it runs.
"""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import torch

from fastweights.train.errors import InvalidFile

LATEST, PREVIOUS, BEST = "ckpt.pt", "ckpt.prev.pt", "best.pt"


def _write_synced(obj: dict, path: Path) -> None:
    try:
        with open(path, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
    except RuntimeError as e:
        # Ctrl-C inside torch.save: its zip writer, closing the half-written file, raises a
        # RuntimeError that hides the KeyboardInterrupt; the half-written file goes, the
        # interrupt is passed on (the previous checkpoint was never touched)
        if isinstance(e.__context__, KeyboardInterrupt):
            path.unlink(missing_ok=True)
            raise KeyboardInterrupt from None
        raise


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


def read(path: Path) -> dict:
    """A checkpoint file, loaded without running code; anything else is an ``InvalidFile``."""
    if not path.is_file():
        raise InvalidFile(f"{path} is missing")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise InvalidFile(f"{path} is not a valid fastweights checkpoint (it asks to load "
                          f"objects other than tensors and plain data; nothing was run)") from None
    except Exception as e:  # truncated or corrupted files raise many exception types
        raise InvalidFile(f"{path} is not a valid fastweights checkpoint (unreadable: "
                          f"{type(e).__name__}: {str(e)[:80]})") from None
    if not isinstance(obj, dict) or "step" not in obj or "model" not in obj:
        raise InvalidFile(f"{path} is not a valid fastweights checkpoint (no weights and step)")
    return obj


def load_checkpoint(run_dir: Path) -> dict | None:
    """The newest good checkpoint of ``run_dir``, or None when there is none."""
    try:
        return read(run_dir / LATEST)
    except InvalidFile as e:
        why = str(e)
    try:
        prev = read(run_dir / PREVIOUS)
    except InvalidFile as e:
        why_prev = str(e)
    else:
        print(f"warning: {why}; resuming from the previous checkpoint (step {prev['step']})",
              file=sys.stderr)
        return prev
    if (run_dir / LATEST).exists() or (run_dir / PREVIOUS).exists():
        print(f"warning: {why}; {why_prev}; starting from scratch", file=sys.stderr)
    return None
