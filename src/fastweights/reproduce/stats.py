"""The spread over seeds that every table and plot shows: median and min–max."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Spread:
    """Median, minimum and maximum of one quantity over ``n`` seeds. Formats as
    ``median [min–max]`` (just the median for one seed); ``inf`` reads as ∞ (never)."""

    median: float
    lo: float
    hi: float
    n: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread:
        vs = [float(v) for v in values]
        if not vs:
            raise ValueError("Spread.of needs at least one value")
        return cls(statistics.median(vs), min(vs), max(vs), len(vs))

    def __format__(self, spec: str) -> str:
        spec = spec or ".3f"
        if self.n == 1:
            return num(self.median, spec)
        return f"{num(self.median, spec)} [{num(self.lo, spec)}–{num(self.hi, spec)}]"

    def __str__(self) -> str:
        return format(self)


def num(v: float, spec: str = "g") -> str:
    """A number as the tables write it: ∞ for never, — for missing."""
    return "∞" if math.isinf(v) else "—" if math.isnan(v) else format(v, spec)
