"""The declaration of an update rule: its arguments, state, forms and backends, as data.

Every rule module holds one ``RULE = Rule(...)``. The public function, the validation
(``checks``), the dispatch over forms and backends and the varlen path (``dispatch``), the
registry ``fastweights.ops.RULES``, the shared tests, the benchmark cases and the table
printed by ``fastweights rules`` (and committed as ``docs/rules.md``) all read it.

Layout (declared once, used everywhere; symbols of ``Arg.shapes`` and ``State.shape``):
    B batch, T steps, H heads, K key size, V value size, n_h sub-steps (DeltaProduct),
    N sequences (B, or the number of packed sequences with ``cu_seqlens``)
    q, k         [B, T, H, K]
    v            [B, T, H, V]
    per-step     [B, T, H]      (β, scalar log-gate g)
    per-key gate [B, T, H, K]   (log-gate g of GLA)
    state S      [N, H, K, V]   (the primer's fast weight matrix is W = Sᵀ)

How to add a rule
-----------------
Write one module ``fastweights/ops/<name>.py`` (nothing else to edit: ``fastweights.ops``
discovers every module that defines ``RULE``) with

1. the forms, side by side, all with one signature: the tensors of ``RULE.args`` in order,
   then ``*, scale, initial_state=None, output_final_state=False`` (+ ``chunk_size`` for
   ``"chunk"``), returning ``(o [B, T, H, V], final state or None)``. ``"recurrent"`` is the
   reference: a plain loop over ``unbind(1)`` in fp32 (fp64 stays fp64), nothing in place;
   it must handle T = 0 (``chunking.stack_steps``). A chunk form must leave the state
   unchanged on zero-padded steps (``chunking.to_chunks``), i.e. every argument's
   ``neutral`` value must be 0 — or pad with the neutral values yourself;
2. the public function, with the rule's own signature, whose body is
   ``return dispatch.call(RULE, (q, k, v, ...), scale=scale, ..., backend=backend)``;
3. ``RULE = Rule(name, paper, recurrence, args=(Arg(...), ...), state=(State(...),),
   forms={"recurrent": ..., "chunk": ...}, fn=<public function>)``, plus ``kernels`` for an
   optional backend (``backends.fla.Kernel``) and ``options`` for keyword options that change
   the computation (the tests cover each value in ``Option.values``).

The shared tests (``tests/ops/test_rules.py``) then check every form against the reference
(outputs, final state, all gradients), streaming, causality, packing and neutral padding;
what is particular to the rule (hand-computed examples) goes in ``tests/ops/test_<name>.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

FORMS = ("recurrent", "parallel", "chunk", "auto")
BACKENDS = ("auto", "torch", "fla")


@dataclass(frozen=True)
class Domain:
    """A closed interval [lo, hi] (either end may be infinite) that every entry must lie in."""

    lo: float = -math.inf
    hi: float = math.inf
    why: str = ""

    def describe(self, name: str) -> str:
        """``"beta ∈ [0, 2]"``, ``"g ≤ 0"``, ``"q ∈ ℝ"``."""
        def num(x: float) -> str:
            return f"{x:g}"
        if self.lo == -math.inf and self.hi == math.inf:
            return f"{name} ∈ ℝ"
        if self.lo == -math.inf:
            return f"{name} ≤ {num(self.hi)}"
        if self.hi == math.inf:
            return f"{name} ≥ {num(self.lo)}"
        return f"{name} ∈ [{num(self.lo)}, {num(self.hi)}]"


REAL = Domain()
LOG_GATE = Domain(hi=0.0, why="a natural-log decay: α = exp(g) ≤ 1")
BETA = Domain(0.0, 2.0, why="a write strength: β ∈ (0, 2) keeps I − β k kᵀ a contraction "
              "for unit keys")


@dataclass(frozen=True)
class Arg:
    """One tensor argument of a rule, in call order.

    ``shapes`` lists the accepted shapes, each a string of layout symbols (``"B T H K"``);
    the first one that has the tensor's rank is checked. ``kind`` is ``"feature"`` (q, k, v:
    they share q's dtype) or ``"gate"`` (per-step scalars or gates: any float dtype).
    ``neutral`` is the value that makes a (padded) step a no-op on the state. ``unit_norm``
    says the layers feed it ℓ2-normalised over its last axis (stated, not checked).
    """

    name: str
    shapes: tuple[str, ...]
    doc: str
    domain: Domain = REAL
    neutral: float = 0.0
    kind: str = "feature"
    unit_norm: bool = False

    def dims(self, rank: int) -> tuple[str, ...] | None:
        for shape in self.shapes:
            if len(shape.split()) == rank:
                return tuple(shape.split())
        return None


@dataclass(frozen=True)
class State:
    """One recurrent state tensor, [N, ...] in layout symbols; ``extra`` names options that
    widen it (``{"V": "normalize"}``: one more V column when ``normalize=True``)."""

    name: str
    shape: str
    doc: str
    extra: dict[str, str] = field(default_factory=dict)
    # a symmetric positive semi-definite matrix in its last two axes, as every state the
    # rule reaches is (tests draw such initial states)
    psd: bool = False


@dataclass(frozen=True)
class Option:
    """A keyword option of the public function that changes what is computed (not how)."""

    name: str
    default: object
    values: tuple
    doc: str
    positive: tuple[str, ...] = ()  # arguments sampled positive when the option is on
    form: bool = False  # every form takes it as a keyword (passed on by ``dispatch``)


@dataclass(frozen=True)
class Rule:
    """One update rule, declared once.

    ``forms`` maps a form name to its function (``"recurrent"`` is the reference); it is a
    plain dict that the dispatch reads at call time. ``kernels`` maps an optional backend
    name to {form: kernel} (``backends.fla.Kernel``); ``"torch"`` is ``forms`` itself.
    ``fn`` is the public function.
    """

    name: str
    paper: str
    recurrence: str
    args: tuple[Arg, ...]
    state: tuple[State, ...]
    forms: dict[str, Callable]
    fn: Callable
    kernels: dict[str, dict[str, Callable]] = field(default_factory=dict)
    options: tuple[Option, ...] = ()
    # False when no step leaves the state unchanged (Titans: S_t = (1 − α) S + M always
    # adds the momentum), so packed sequences are run one by one, never padded
    neutral_steps: bool = True

    def __post_init__(self):
        if "recurrent" not in self.forms:
            raise ValueError(f"rule {self.name!r} must declare a 'recurrent' reference form")
        if len({a.name for a in self.args}) != len(self.args):
            raise ValueError(f"rule {self.name!r} declares an argument twice")

    @property
    def backends(self) -> tuple[str, ...]:
        return ("torch", *self.kernels)

    def arg(self, name: str) -> Arg:
        return next(a for a in self.args if a.name == name)


# arguments that several rules share
QUERY = Arg("q", ("B T H K",), "queries")
KEY = Arg("k", ("B T H K",), "keys")
UNIT_KEY = Arg("k", ("B T H K",), "keys", unit_norm=True)
VALUE = Arg("v", ("B T H V",), "values")
WRITE_STRENGTH = Arg("beta", ("B T H",), "write strength β (learning rate of the delta step)",
                     domain=BETA, kind="gate")
SCALAR_GATE = Arg("g", ("B T H",), "log-decay g, α_t = exp(g_t)", domain=LOG_GATE,
                  kind="gate")
FAST_WEIGHTS = State("S", "N H K V", "fast weights (W = Sᵀ)")
