"""Published claims, one command each: ``fastweights reproduce NAME``.

Each module here defines ``REPRODUCTION``; ``REPRODUCTIONS`` maps names to them.
"""

from __future__ import annotations

import importlib

from fastweights.reproduce.report import Report, Reproduction, write_report

MODULES: tuple[str, ...] = ("wave_rnn_copy", "stpn_retrieval", "waves", "formal_languages",
                            "capacity", "negative_eigenvalues", "recall_vs_state",
                            "stpn_maze", "stpn_pendulum")

REPRODUCTIONS: dict[str, Reproduction] = {
    r.name: r for r in (importlib.import_module(f"fastweights.reproduce.{m}").REPRODUCTION
                        for m in MODULES)
}

__all__ = ["REPRODUCTIONS", "Report", "Reproduction", "write_report"]
