"""What a reproduction is and the report it writes.

A reproduction is a small experiment that tests one published claim: ``run(quick, workdir,
workers)`` trains what it needs (through sweeps, so a killed run resumes) and returns a
``Report`` with the verdict. ``write_report`` turns it into ``docs/results/NAME.md`` with the
claim, the command, the budget, the tables and plots, and the verdict.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

VERDICTS = ("reproduced", "partly reproduced", "not reproduced")


@dataclass
class Report:
    verdict: str
    summary: str  # one line: what was seen
    body: str  # Markdown: setting, budget, tables, figures (by file name), discussion
    figures: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")


@dataclass(frozen=True)
class Reproduction:
    name: str
    paper: str
    claim: str
    run: Callable[[bool, Path, int], Report]  # (quick, workdir, workers) -> Report


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_report(repro: Reproduction, report: Report, command: str, seconds: float,
                 out_dir: Path, workers: int) -> Path:
    """Write ``out_dir/NAME.md`` and copy the report's figures next to it (the body refers to
    them by file name)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for fig in report.figures:
        if fig.resolve() != (out_dir / fig.name).resolve():
            shutil.copyfile(fig, out_dir / fig.name)
    path = out_dir / f"{repro.name}.md"
    path.write_text(
        f"# {repro.name}: {report.verdict}\n\n"
        f"**Claim** ({repro.paper}): {repro.claim}\n\n"
        f"**Verdict: {report.verdict}.** {report.summary}\n\n"
        f"**Command:** `{command}` (wall time {seconds / 60:.1f} min on {platform.machine()} "
        f"with {os.cpu_count()} cores, {workers} training process(es) in parallel, torch "
        f"{torch.__version__}, commit {_commit()}).\n\n{report.body.strip()}\n")
    return path
