"""The Elman RNN / iRNN baselines.

Elman RNN (Elman 1990) and iRNN (Le, Jaitly & Hinton 2015), hidden state h ∈ ℝ^d:

    h_t = tanh(W_x x_t + W_h h_{t−1} + b)          (``nonlinearity="tanh"``, registry ``rnn``)
    h_t = ReLU(W_x x_t + W_h h_{t−1} + b)          (``nonlinearity="relu"``, registry ``irnn``,
                                                    with W_h = I and b = 0 at init)

| paper | here |
|---|---|
| W_x, b | ``inp.weight``, ``inp.bias`` |
| W_h | ``rec`` |

Elman is a ``RecurrentCell`` (``fastweights.layers.cell``): state ``{"h": [B, d]}``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from fastweights.layers.cell import RecurrentCell, State
from fastweights.layers.config import check_types

NONLINEARITIES = {"tanh": torch.tanh, "relu": torch.relu}


@dataclass
class ElmanConfig:
    d_model: int = 32
    nonlinearity: str = "tanh"
    identity_init: bool = False  # W_h = I, b = 0 (iRNN)

    def __post_init__(self) -> None:
        check_types(self)
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

    def init_state(self, batch: int, device=None, dtype=None) -> State:
        return {"h": torch.zeros(batch, self.d, device=device, dtype=dtype)}

    def state_size(self) -> int:
        return self.d

    def cell(self, x_t: Tensor, state: State, internals: bool) -> tuple[Tensor, State, dict]:
        h = self.act(self.inp(x_t) + state["h"] @ self.rec.T)
        return h, {"h": h}, {"h": h} if internals else {}
