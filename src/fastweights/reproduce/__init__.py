"""Published claims, one command each: ``fastweights reproduce NAME``.

Each module named in ``MODULES`` defines ``REPRODUCTION``; ``REPRODUCTIONS`` (built on first
use, so that the CLI starts without importing them) maps names to them. The framework they
share: ``budget`` (what a comparison spends, per scale), ``grid`` (cells × lrs × seeds, the
learning rate chosen on validation), ``criterion`` (checks judged on medians, seeds that
agree), ``stats``, ``plots`` and ``report``.
"""

from __future__ import annotations

import importlib

MODULES: tuple[str, ...] = ("wave_rnn_copy", "stpn_retrieval", "waves", "formal_languages",
                            "capacity", "negative_eigenvalues", "recall_vs_state", "char_lm",
                            "activity_silent", "stpn_maze", "stpn_pendulum")


def __getattr__(name: str):
    if name == "REPRODUCTIONS":
        registry = {r.name: r for r in (
            importlib.import_module(f"fastweights.reproduce.{m}").REPRODUCTION
            for m in MODULES)}
        globals()["REPRODUCTIONS"] = registry
        return registry
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
