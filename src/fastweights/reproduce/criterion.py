"""Pre-stated criteria and the verdict they give, on medians, with the seeds that agree.

A reproduction measures quantities per cell and seed (``Measures``: cell -> quantity -> seed
-> value) and states its checks before it runs. A ``Check`` is a sentence and a predicate
over a view ``value(cell, quantity)``; it may answer ``None`` (untested: its precondition
failed). ``judge`` evaluates every check on the **medians over seeds** — that gives the
verdict — and again on each seed alone, to say how many seeds agree::

    reproduced          every check holds
    partly reproduced   at least ``partly_at`` checks hold
    not reproduced      fewer
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

from fastweights.reproduce.grid import CellResult, Run

VERDICTS = ("reproduced", "partly reproduced", "not reproduced")
Measures = dict[str, dict[str, dict[int, float]]]
View = Callable[[str, str], float]


@dataclass(frozen=True)
class Check:
    text: str  # the pre-stated statement, thresholds included
    holds: Callable[[View], bool | None]
    seen: Callable[[View], str] | None = None  # what was measured, from the same view


@dataclass(frozen=True)
class Verdict:
    verdict: str
    outcomes: list[bool | None]  # per check, on medians
    agree: list[int]  # per check: seeds on which it gives the same outcome as the medians
    seen: list[str]
    checks: list[Check]
    seeds_agree: int  # seeds whose own verdict equals the verdict
    n_seeds: int

    def lines(self) -> str:
        """One Markdown bullet per check: outcome, statement, what was seen, agreement."""
        mark = {True: "✓", False: "✗", None: "untested:"}
        return "\n".join(
            f"- {mark[o]} {c.text}" + (f" (seen, medians: {s})" if s else "")
            + f"; {a}/{self.n_seeds} seeds agree" for c, o, a, s in
            zip(self.checks, self.outcomes, self.agree, self.seen, strict=True))

    def agreement(self) -> str:
        return (f"{self.seeds_agree} of {self.n_seeds} seeds, judged alone, give the same "
                f"verdict")


def measure(results: dict[str, CellResult], fn: Callable[[Run], dict[str, float]],
            cells: list[str] | None = None) -> Measures:
    """``fn`` on every chosen-lr run of each cell (default: all cells)."""
    out: Measures = {}
    for key in cells or list(results):
        for run in results[key].chosen:
            for q, v in fn(run).items():
                out.setdefault(key, {}).setdefault(q, {})[run.seed] = float(v)
    return out


def median_view(m: Measures) -> View:
    return lambda cell, q: statistics.median(m[cell][q].values())


def seed_view(m: Measures, seed: int) -> View:
    return lambda cell, q: m[cell][q][seed]


def verdict_of(outcomes: list[bool | None], partly_at: int = 1) -> str:
    passed = sum(o is True for o in outcomes)
    return (VERDICTS[0] if passed == len(outcomes) else
            VERDICTS[1] if passed >= partly_at else VERDICTS[2])


def judge(checks: list[Check], m: Measures, partly_at: int = 1) -> Verdict:
    """The verdict on medians, and per check how many seeds (each alone) agree. Only seeds
    present in every measured quantity count."""
    seeds = sorted(set.intersection(*(set(v) for qs in m.values() for v in qs.values())))
    med = median_view(m)
    outcomes = [c.holds(med) for c in checks]
    verdict = verdict_of(outcomes, partly_at)
    per_seed = [[c.holds(seed_view(m, s)) for c in checks] for s in seeds]
    agree = [sum(o[i] == outcomes[i] for o in per_seed) for i in range(len(checks))]
    seeds_agree = sum(verdict_of(o, partly_at) == verdict for o in per_seed)
    seen = [c.seen(med) if c.seen else "" for c in checks]
    return Verdict(verdict, outcomes, agree, seen, checks, seeds_agree, len(seeds))
