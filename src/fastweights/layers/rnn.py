"""Recurrent cells: the interface every cell layer shares, and the Elman RNN / iRNN baselines.

Elman RNN (Elman 1990) and iRNN (Le, Jaitly & Hinton 2015), hidden state h ∈ ℝ^d:

    h_t = tanh(W_x x_t + W_h h_{t−1} + b)          (``nonlinearity="tanh"``, registry ``rnn``)
    h_t = ReLU(W_x x_t + W_h h_{t−1} + b)          (``nonlinearity="relu"``, registry ``irnn``,
                                                    with W_h = I and b = 0 at init)

| paper | here |
|---|---|
| W_x, b | ``inp.weight``, ``inp.bias`` |
| W_h | ``rec`` |

A ``RecurrentCell`` is a per-step update ``cell(x_t, state) -> (y_t, state, internals)``
with nonlinear feedback, so it runs as a plain loop over t. Every cell keeps the model
contract of DESIGN.md §4: ``cell_layer(x [B, T, I], state=None) -> (y [B, T, out_size],
state)``, ``step``, ``state_size()`` (floats of memory per sequence; the state is a tuple
of tensors, each [B, ...]) and ``return_intermediates=True``, which stacks the per-step
internals into the cell's ``Intermediates`` dataclass (each field [B, T, ...]).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

NONLINEARITIES = {"tanh": torch.tanh, "relu": torch.relu}

State = tuple[Tensor, ...]


class RecurrentCell(nn.Module):
    """Base class: subclasses set ``out_size`` and ``Intermediates`` and implement
    ``initial_state``, ``cell`` and ``state_size``."""

    out_size: int
    Intermediates: type

    def initial_state(self, x: Tensor) -> State:
        """The state before the first step, for the batch, dtype and device of ``x``."""
        raise NotImplementedError

    def cell(self, x_t: Tensor, state: State, internals: bool) -> tuple[Tensor, State, dict]:
        """One step: ``x_t [B, I]`` → ``y_t [B, out_size]``, the new state, and (when
        ``internals``) a dict of this step's internals named as ``Intermediates``' fields."""
        raise NotImplementedError

    def state_size(self) -> int:
        raise NotImplementedError

    def forward(self, x: Tensor, state: State | None = None,
                return_intermediates: bool = False) -> tuple:
        if x.dim() != 3 or x.shape[1] == 0:
            raise ValueError(f"x must have shape [B, T, input_size] with T >= 1, "
                             f"got {tuple(x.shape)}")
        if state is None:
            state = self.initial_state(x)
        ys, steps = [], []
        for t in range(x.shape[1]):
            y_t, state, internals = self.cell(x[:, t], state, return_intermediates)
            ys.append(y_t)
            steps.append(internals)
        y = torch.stack(ys, 1)
        if not return_intermediates:
            return y, state
        inter = self.Intermediates(**{k: torch.stack([s[k] for s in steps], 1)
                                      for k in steps[0]})
        return y, state, inter

    def step(self, x_t: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        y, state = self(x_t.unsqueeze(1), state)
        return y.squeeze(1), state


@dataclass
class ElmanConfig:
    d_model: int = 32
    nonlinearity: str = "tanh"
    identity_init: bool = False  # W_h = I, b = 0 (iRNN)

    def __post_init__(self) -> None:
        if self.d_model < 1:
            raise ValueError(f"d_model must be >= 1, got {self.d_model}")
        if self.nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be one of {sorted(NONLINEARITIES)}, "
                             f"got {self.nonlinearity!r}")


@dataclass
class ElmanIntermediates:
    h: Tensor  # [B, T, d]


class ElmanCell(RecurrentCell):
    Intermediates = ElmanIntermediates

    def __init__(self, input_size: int, config: ElmanConfig):
        super().__init__()
        d = config.d_model
        self.d, self.out_size = d, d
        self.act = NONLINEARITIES[config.nonlinearity]
        self.inp = nn.Linear(input_size, d)
        self.rec = nn.Parameter(torch.empty(d, d))
        nn.init.uniform_(self.rec, -d ** -0.5, d ** -0.5)
        if config.identity_init:
            with torch.no_grad():
                self.rec.copy_(torch.eye(d))
                self.inp.bias.zero_()

    def initial_state(self, x: Tensor) -> State:
        return (x.new_zeros(x.shape[0], self.d),)

    def state_size(self) -> int:
        return self.d

    def cell(self, x_t: Tensor, state: State, internals: bool) -> tuple[Tensor, State, dict]:
        (h,) = state
        h = self.act(self.inp(x_t) + h @ self.rec.T)
        return h, (h,), {"h": h} if internals else {}
