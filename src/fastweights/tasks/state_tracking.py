"""State tracking (Grazzi et al. 2025, "Unlocking State-Tracking in Linear RNNs Through
Negative Eigenvalues"; Merrill, Petty & Sabharwal 2024, "The Illusion of State in
State-Space Models"; Deletang et al. 2023 for modular arithmetic).

Problems (``problem``):

- ``parity``: a bit string; at every position the target is the parity of the bits so far.
- ``mod-arith``: an expression of digits ``0 … m−1`` and ``+ - *`` (usual precedence: ``*``
  binds tighter), ending in ``=``; the target, at ``=`` only, is its value mod m (m = 5).
- ``mod-arith-brackets``: the same with nested brackets ``( )``.
- ``s3``, ``s5``: the word problem of the symmetric group: each token is a permutation of
  3 (or 5) items, and at every position the target is the product of the permutations so
  far, P_t = g₁ then g₂ … then g_t (P_t(i) = g_t(P_{t−1}(i))). S3 is the smallest
  non-abelian group; S5 is not solvable, so no constant-depth circuit (no fixed number of
  parallel steps) tracks it: a recurrent state must.

Permutation ids follow ``itertools.permutations(range(k))`` order (id 0 is the identity).
Each example has its own length, drawn uniformly from [min_len, max_len] (train: 3–40, as in
Grazzi et al.); shorter examples are padded at the end with the pad token (the last input
id), unscored. ``eval_sets()`` adds ``test_long`` with lengths in [test_min_len,
test_max_len] (Grazzi et al.: 40–256), ``test_long_size`` examples. Modular-arithmetic
lengths count the ``=`` and are even (an expression has odd length).

Metrics: ``accuracy`` over scored positions, ``sequence_accuracy``, and the main metric
``scaled_accuracy`` = (accuracy − chance) / (1 − chance), chance = 1 / number of classes.

>>> task = StateTracking(StateTrackingConfig(problem="mod-arith-brackets", min_len=12,
...                                          max_len=12))
>>> x, y = task.sample(1, torch.Generator().manual_seed(0))
>>> print(task.render(x[0], y[0]))
3-2+(3)*4-3= 0
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import Tensor

from fastweights.tasks._common import check, lengths_between
from fastweights.tasks.base import IGNORE, Task, TaskConfig
from fastweights.tasks.budget import TrainBudget

PROBLEMS = ("parity", "mod-arith", "mod-arith-brackets", "s3", "s5")
PLUS, MINUS, TIMES, OPEN, CLOSE, EQUALS = range(6)  # operator ids, offset by the modulus
OPERATORS = "+-*()="


@dataclass
class StateTrackingConfig(TaskConfig):
    problem: str = "parity"
    min_len: int = 3
    max_len: int = 40
    test_min_len: int = 40
    test_max_len: int = 256
    test_long_size: int = 500
    modulus: int = 5
    p_open: float = 0.3  # mod-arith-brackets: chance of opening a bracket where allowed
    p_close: float = 0.3  # ... and of closing one


def permutation_table(k: int) -> tuple[list[tuple[int, ...]], Tensor]:
    """The permutations of ``range(k)`` in itertools order, and ``table[a, b]``, the id of
    "a then b" (i ↦ b(a(i)))."""
    perms = list(itertools.permutations(range(k)))
    index = {p: i for i, p in enumerate(perms)}
    table = torch.tensor([[index[tuple(b[a[i]] for i in range(k))] for b in perms]
                          for a in perms])
    return perms, table


class StateTracking(Task):
    name = "state-tracking"
    Config = StateTrackingConfig
    budget = TrainBudget("deltanet", steps=300, batch_size=32, lr=1e-2,
                         metric=0.662, chance=0.0, seconds=71)
    main_metric = "scaled_accuracy"

    def __init__(self, config: StateTrackingConfig | None = None):
        super().__init__(config)
        c = self.config
        if c.problem == "parity":
            self.n_symbols, self.output_size = 2, 2
        elif c.problem in ("s3", "s5"):
            self.perms, self.table = permutation_table(int(c.problem[1]))
            self.n_symbols = self.output_size = len(self.perms)
        else:
            self.n_symbols, self.output_size = c.modulus + len(OPERATORS), c.modulus
        self.pad = self.n_symbols
        self.input_size = self.n_symbols + 1

    def _check(self, config: StateTrackingConfig) -> None:
        super()._check(config)
        check(self.name, config.problem in PROBLEMS,
              f"problem must be one of {PROBLEMS}, got {config.problem!r}")
        arith = config.problem.startswith("mod-arith")
        lo = 2 if arith else 1
        for a, b in (("min_len", "max_len"), ("test_min_len", "test_max_len")):
            x, y = getattr(config, a), getattr(config, b)
            check(self.name, lo <= x <= y,
                  f"{a} and {b} must satisfy {lo} <= {a} <= {b}, got {x} and {y}")
            if arith:
                check(self.name, y >= x + 1 or x % 2 == 0,
                      f"{a}..{b} must contain an even length (an expression and '='), "
                      f"got {x}..{y}")
        check(self.name, config.test_long_size >= 1,
              f"test_long_size must be >= 1, got {config.test_long_size}")
        check(self.name, 2 <= config.modulus <= 10,
              f"modulus must be in 2..10, got {config.modulus}")
        for field in ("p_open", "p_close"):
            value = getattr(config, field)
            check(self.name, 0 <= value < 1, f"{field} must be in [0, 1), got {value}")

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        return self._sample(n, generator, self.config.min_len, self.config.max_len)

    def eval_sets(self) -> dict[str, tuple[Tensor, Tensor]]:
        c = self.config
        return {"test": self.test_set(),
                "test_long": self.fixed_set(
                    "test_long", c.test_seed + 2,
                    lambda g: self._sample(c.test_long_size, g, c.test_min_len,
                                           c.test_max_len))}

    def _sample(self, n: int, generator: torch.Generator, lo: int,
                hi: int) -> tuple[Tensor, Tensor]:
        problem = self.config.problem
        if problem.startswith("mod-arith"):
            lengths = lengths_between(n, lo, hi, generator, parity=0)
            return self._arithmetic(lengths, generator, brackets=problem.endswith("brackets"))
        lengths = lengths_between(n, lo, hi, generator)
        T = int(lengths.max())
        inputs = torch.randint(self.n_symbols, (n, T), generator=generator)
        if problem == "parity":
            targets = inputs.cumsum(dim=1) % 2
        else:
            targets = torch.empty_like(inputs)
            state = torch.zeros(n, dtype=torch.long)  # the identity
            for t in range(T):
                state = self.table[state, inputs[:, t]]
                targets[:, t] = state
        pad = torch.arange(T)[None] >= lengths[:, None]
        return inputs.masked_fill(pad, self.pad), targets.masked_fill(pad, IGNORE)

    def _arithmetic(self, lengths: Tensor, generator: torch.Generator,
                    brackets: bool) -> tuple[Tensor, Tensor]:
        """Random expressions of exactly ``lengths − 1`` tokens, then ``=``, generated and
        evaluated in one pass of a stack machine (one stack level per bracket depth)."""
        c, m = self.config, self.config.modulus
        n, T = lengths.numel(), int(lengths.max())
        expr_len = lengths - 1  # odd
        inputs = torch.full((n, T), self.pad)
        targets = torch.full((n, T), IGNORE)
        rows = torch.arange(n)
        levels = T // 2 + 1
        acc = torch.zeros(n, levels, dtype=torch.long)  # sum of finished terms per level
        term = torch.zeros(n, levels, dtype=torch.long)  # the product being built
        sign = torch.ones(n, levels, dtype=torch.long)  # sign of that product
        times = torch.zeros(n, levels, dtype=torch.bool)  # a '*' waits for its factor
        depth = torch.zeros(n, dtype=torch.long)
        want_operand = torch.ones(n, dtype=torch.bool)

        def factor(mask: Tensor, value: Tensor) -> None:
            d = depth[mask]
            r = rows[mask]
            term[r, d] = torch.where(times[r, d], term[r, d] * value % m, value)
            times[r, d] = False

        for t in range(T):
            active = t < expr_len
            finish = t == expr_len
            left = expr_len - t  # tokens left, this one included
            u = torch.rand(n, generator=generator)
            number = torch.randint(m, (n,), generator=generator)
            op = torch.randint(3, (n,), generator=generator)  # + - *
            can_open = brackets & want_operand & (left - 1 >= depth + 2)
            is_open = active & can_open & (u < c.p_open)
            is_number = active & want_operand & ~is_open
            after = active & ~want_operand
            can_op = left - 1 >= depth + 1
            is_close = after & (depth > 0) & (~can_op | (u < c.p_close))
            is_op = after & ~is_close
            token = torch.where(is_number, number, self.pad)
            token = torch.where(is_op, m + op, token)
            token = torch.where(is_open, m + OPEN, token)
            token = torch.where(is_close, m + CLOSE, token)
            token = torch.where(finish, m + EQUALS, token)
            inputs[:, t] = token
            # evaluate
            if is_number.any():
                factor(is_number, number[is_number])
            plus_minus = is_op & (op != TIMES)
            if plus_minus.any():
                r, d = rows[plus_minus], depth[plus_minus]
                acc[r, d] = (acc[r, d] + sign[r, d] * term[r, d]) % m
                sign[r, d] = torch.where(op[plus_minus] == PLUS, 1, -1)
            times_now = is_op & (op == TIMES)
            times[rows[times_now], depth[times_now]] = True
            if is_open.any():
                r, d = rows[is_open], depth[is_open] + 1
                acc[r, d], term[r, d], sign[r, d], times[r, d] = 0, 0, 1, False
                depth[is_open] += 1
            if is_close.any():
                r, d = rows[is_close], depth[is_close]
                value = (acc[r, d] + sign[r, d] * term[r, d]) % m
                depth[is_close] -= 1
                factor(is_close, value)
            if finish.any():
                r = rows[finish]
                targets[r, t] = (acc[r, 0] + sign[r, 0] * term[r, 0]) % m
            want_operand = torch.where(is_number | is_close, False,
                                       torch.where(is_op | is_open, True, want_operand))
        return inputs, targets

    def metrics(self, logits: Tensor, targets: Tensor) -> dict[str, float]:
        out = super().metrics(logits, targets)
        chance = 1.0 / self.output_size
        out["scaled_accuracy"] = (out["accuracy"] - chance) / (1.0 - chance)
        return out

    def expression(self, inputs: Tensor) -> str:
        """A modular-arithmetic input as text (without padding)."""
        m = self.config.modulus
        return "".join(str(i) if i < m else OPERATORS[i - m]
                       for i in inputs.tolist() if i != self.pad)

    def render(self, inputs: Tensor, targets: Tensor) -> str:
        keep = inputs != self.pad
        x, y = inputs[keep].tolist(), targets[keep].tolist()
        if self.config.problem.startswith("mod-arith"):
            return f"{self.expression(inputs)} {y[-1]}"
        if self.config.problem == "parity":
            return f"{''.join(map(str, x))} -> {''.join(map(str, y))}"
        return f"{' '.join(map(str, x))} -> {' '.join(map(str, y))}"
