"""The ways a run can fail that are not a bad config, each reported as one line.

``InvalidFile`` (a ValueError) names a file that cannot be used; the others are
``RunError``s: the run stopped (diverged, a write failed, the folder is in use).
"""

from __future__ import annotations


class InvalidFile(ValueError):
    """A file of a run folder (or a config file) that cannot be used; the message names it."""


class RunError(RuntimeError):
    """A run stopped for a reason that is not a bad config."""


class RunLocked(RunError):
    """Another live process holds the run folder."""


class RunWriteError(RunError, OSError):
    """A file of the run folder could not be written (a full disk, say)."""


class TrainingDiverged(RunError, FloatingPointError):
    """A non-finite loss, gradient, parameter or activation; the last good checkpoint is
    kept."""

    def __init__(self, step: int, quantity: str, detail: str = ""):
        self.step, self.quantity, self.detail = step, quantity, detail
        super().__init__(f"training diverged at step {step}: {quantity} became non-finite"
                         + (f" ({detail})" if detail else ""))

    def __reduce__(self):  # crosses process boundaries (sweep workers) intact
        return type(self), (self.step, self.quantity, self.detail)
