"""What a reproduction is and the report it writes.

A reproduction tests one published claim: ``run(ctx)`` trains what it needs through
``run_grid`` (so finished runs are reused and ``--report`` retrains nothing), judges its
pre-stated criterion on medians over seeds and returns a ``Report``. ``write_report`` turns
it into ``docs/results/NAME.md``: the claim, the verdict, the command, the body (the paper
vs here settings, the criterion, tables with medians and min–max, plots with error bars),
what was seen and the history of the settings tried before the present ones.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from fastweights.reproduce.budget import Context
from fastweights.reproduce.criterion import VERDICTS
from fastweights.reproduce.grid import CellResult, Run, choose_lr
from fastweights.reproduce.stats import Spread


@dataclass
class Report:
    verdict: str
    summary: str  # one line: what was seen
    body: str  # Markdown: setting, budget, tables, figures (by file name), discussion
    figures: list[Path] = field(default_factory=list)
    results: dict[str, CellResult] = field(default_factory=dict)  # for the time spent
    discussion: str = ""  # after the summary: surprises, a baseline ahead of the claim

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    def train_seconds(self) -> float:
        return sum(r.result["time"] for c in self.results.values() for r in c.runs)

    def n_runs(self) -> int:
        return sum(len(c.runs) for c in self.results.values())


class CountedReport(Report):
    """A report whose runs its own runner trains (networks, RL agents), not grid runs: it
    states how many there were and their training time summed over runs."""

    def __init__(self, *args, runs: int, seconds: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.runs, self.seconds = runs, seconds

    def train_seconds(self) -> float:
        return self.seconds

    def n_runs(self) -> int:
        return self.runs


@dataclass(frozen=True)
class Reproduction:
    name: str
    paper: str
    claim: str
    run: Callable[[Context], Report]
    history: tuple[str, ...] = ()  # settings tried before the present ones, and why


def paper_vs_here(rows: Sequence[tuple[str, str, str]], paper: str) -> str:
    """The settings table: (setting, the paper's value, ours at this scale)."""
    lines = [f"| | {paper} | here |", "|---|---|---|"]
    return "\n".join(lines + [f"| {a} | {b} | {c} |" for a, b, c in rows])


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_report(repro: Reproduction, report: Report, command: str, seconds: float,
                 out_dir: Path, ctx: Context) -> Path:
    """Write ``out_dir/NAME.md`` and copy the report's figures next to it (the body refers to
    them by file name)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for fig in report.figures:
        if fig.resolve() != (out_dir / fig.name).resolve():
            shutil.copyfile(fig, out_dir / fig.name)
    how = ("report rebuilt from the finished runs by `--report`" if ctx.report_only else
           f"wall time {seconds / 60:.1f} min, {ctx.workers} training process(es) in parallel")
    history = "\n".join(f"- {h}" for h in repro.history) or "- none: the first settings tried."
    path = out_dir / f"{repro.name}.md"
    path.write_text(
        f"# {repro.name}: {report.verdict}\n\n"
        f"**Claim** ({repro.paper}): {repro.claim}\n\n"
        f"**Verdict: {report.verdict}.** {report.summary}\n\n"
        f"**Command:** `{command}` ({how}; {report.n_runs()} runs, "
        f"{report.train_seconds() / 60:.1f} min of training summed over runs; "
        f"{platform.machine()} with {os.cpu_count()} cores, torch {torch.__version__}, commit "
        f"{_commit()}).\n\n{report.body.strip()}\n\n"
        f"## What was seen\n\n{report.summary}\n\n"
        + (f"{report.discussion.strip()}\n\n" if report.discussion.strip() else "")
        + f"## Settings history\n\n{history}\n")
    return path


def grid_table(results: dict[str, CellResult],
               columns: dict[str, Callable[[Run], float] | tuple[Callable[[Run], float], str]],
               fmt: str = ".3f") -> str:
    """Every cell × learning rate: seeds, the median validation score that chose the
    learning rate (★ = chosen) and, per column, median [min–max] over seeds. A column is
    ``fn(run)`` or ``(fn, format)``."""
    columns = {k: c if isinstance(c, tuple) else (c, fmt) for k, c in columns.items()}
    header = ["cell", "lr", "seeds", "val score (median)", *columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key, res in results.items():
        for lr in res.lrs:
            runs = res.at(lr)
            cells = [key, f"{lr:g}" + (" ★" if lr == res.lr else ""), str(len(runs)),
                     f"{res.scores[lr]:.3f}",
                     *(format(Spread.of(fn(r) for r in runs), f) for fn, f in columns.values())]
            lines.append("| " + " | ".join(cells) + " |")
    edge = [f"{k} ({r.lr:g})" for k, r in results.items() if choose_lr(r.scores)[1] is not None]
    if edge:
        lines.append(f"\nStill best at an edge of its grid once the budget's extensions were "
                     f"spent (the best rate may lie beyond): {', '.join(edge)}.")
    return "\n".join(lines)


def spread(res: CellResult, fn: Callable[[Run], float]) -> Spread:
    """``fn`` over the seeds of a cell's chosen learning rate."""
    return Spread.of(fn(r) for r in res.chosen)
