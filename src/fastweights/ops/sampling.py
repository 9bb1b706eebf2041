"""Random inputs that satisfy a rule's declaration, for the tests and the benchmarks.

A ``Case`` is one configuration of a rule: a choice among each argument's accepted shapes
and a value of each option. ``cases(rule)`` lists them all (e.g. gated_sum_rule with a
scalar and with a per-key gate; sum_rule with and without normalisation).

Each argument is drawn from its domain: ℝ → N(0, 1) (ℓ2-normalised over the last axis when
``unit_norm``), g ≤ 0 → logsigmoid(N(2, 1)) (decays near 0.9), [lo, hi] → uniform on the
inner 95 %, ≥ lo → lo + softplus(N(0, 1)); options' ``positive`` arguments → U(0.1, 1.1).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from fastweights.ops import checks
from fastweights.ops.spec import Arg, Rule


@dataclass(frozen=True)
class Case:
    rule: Rule
    shapes: dict[str, str] = field(default_factory=dict)  # arg name → chosen shape
    options: dict = field(default_factory=dict)

    def _changed(self) -> dict:
        defaults = {o.name: o.default for o in self.rule.options}
        return {n: v for n, v in self.options.items() if defaults.get(n) != v}

    @property
    def label(self) -> str:
        """``"gated_sum_rule (g [B, T, H, K])"``; options at their default are not named."""
        parts = [f"{n} [{', '.join(s.split())}]" for n, s in self.shapes.items()]
        parts += [f"{n}={v}" for n, v in self._changed().items()]
        return self.rule.name + (f" ({', '.join(parts)})" if parts else "")

    @property
    def id(self) -> str:
        """``"gated_sum_rule-g4d"``, ``"sum_rule-normalize=True"`` (a test id)."""
        parts = [f"{n}{len(s.split())}d" for n, s in self.shapes.items()]
        parts += [f"{n}={v}" for n, v in self._changed().items()]
        return "-".join([self.rule.name, *parts])

    def shape_of(self, arg: Arg) -> tuple[str, ...]:
        return tuple(self.shapes.get(arg.name, arg.shapes[0]).split())

    def inputs(self, B: int = 2, T: int = 11, H: int = 2, K: int = 4, V: int = 3,
               n_h: int = 2, dtype: torch.dtype = torch.float64, seed: int = 0,
               initial_state: bool = True) -> dict[str, Tensor]:
        """One tensor per argument, plus ``initial_state`` (N = B) unless told not to."""
        gen = torch.Generator().manual_seed(seed)
        sizes = {"B": B, "T": T, "H": H, "K": K, "V": V, "n_h": n_h, "N": B}
        positive = {a for o in self.rule.options if self.options.get(o.name) for a in o.positive}
        x = {}
        for arg in self.rule.args:
            shape = tuple(sizes[d] for d in self.shape_of(arg))
            x[arg.name] = _draw(arg, shape, gen, arg.name in positive)
        if initial_state:
            shapes = checks.state_shape(self.rule, sizes, self.options)
            states = [0.5 * torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
            states = [x @ x.mT / x.shape[-1] if st.psd else x
                      for st, x in zip(self.rule.state, states, strict=True)]
            x["initial_state"] = states[0] if len(states) == 1 else tuple(states)
        return {n: _to(t, dtype) for n, t in x.items()}

    def call(self, inputs: dict[str, Tensor], **kwargs):
        """The public function on ``inputs`` (tensors positionally, the rest by keyword)."""
        args = [inputs[a.name] for a in self.rule.args]
        kw = {"initial_state": inputs.get("initial_state")} | self.options | kwargs
        return self.rule.fn(*args, **kw)


def _to(t, dtype):
    return tuple(s.to(dtype) for s in t) if isinstance(t, tuple) else t.to(dtype)


def _draw(arg: Arg, shape: tuple[int, ...], gen: torch.Generator, positive: bool) -> Tensor:
    lo, hi = arg.domain.lo, arg.domain.hi
    if positive:
        return 0.1 + torch.rand(shape, generator=gen, dtype=torch.float64)
    if lo == -math.inf and hi == math.inf:
        x = torch.randn(shape, generator=gen, dtype=torch.float64)
        return F.normalize(x, dim=-1) if arg.unit_norm else x
    if lo == -math.inf:
        return hi + F.logsigmoid(torch.randn(shape, generator=gen, dtype=torch.float64) + 2.0)
    if hi == math.inf:
        return lo + F.softplus(torch.randn(shape, generator=gen, dtype=torch.float64))
    u = torch.rand(shape, generator=gen, dtype=torch.float64)
    return lo + (hi - lo) * (0.025 + 0.95 * u)


def cases(rule: Rule) -> list[Case]:
    """Every configuration of ``rule``: each shape alternative × each option value."""
    alts = [[(a.name, s) for s in a.shapes] for a in rule.args if len(a.shapes) > 1]
    opts = [[(o.name, v) for v in o.values] for o in rule.options]
    out = []
    for shapes in itertools.product(*alts):
        for options in itertools.product(*opts):
            out.append(Case(rule, dict(shapes), {n: v for n, v in options if v is not None}))
    return out
