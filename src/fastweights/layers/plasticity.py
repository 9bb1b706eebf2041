"""Plasticity baselines of the STPN paper: Fast Weights (Ba, Hinton, Mnih, Leibo & Ionescu 2016,
"Using Fast Weights to Attend to the Recent Past") and the neuromodulated plastic RNN (Miconi,
Stanley & Clune 2018, "Differentiable plasticity"; Miconi et al. 2019, "Backpropamine").

Fast weights (``fast-weights-ba``), state (h ∈ ℝ^d, A ∈ ℝ^{d×d}), A_0 = 0, h_0 = 0:

    A_t = λ A_{t−1} + η h_{t−1} ⊗ h_{t−1}
    p_t = W h_{t−1} + C x_t + b                       the slow (sustained) input
    h⁰ = f(p_t);  hˢ = f(LN(p_t + A_t hˢ⁻¹)) for s = 1 … S;  h_t = h^S

with f = ReLU (``activation``), LN a layer norm with learned gain and bias, λ = ``decay``,
η = ``eta``, S = ``inner_steps`` (the paper: λ = 0.95, η = 0.5, S = 1, W = 0.05·I at init).

Plastic RNN (``plastic-rnn``), state (h ∈ ℝ^d, Hebb ∈ ℝ^{d×d}), Hebb_0 = 0, h_0 = 0:

    h_t = tanh(W x_t + b + (W_h + α ⊙ Hebb_t) h_{t−1})
    M_t = tanh(w_M · h_t + b_M)                       the neuromodulator, a scalar
    Hebb_{t+1} = clip(Hebb_t + M_t h_t ⊗ h_{t−1}, −c, c)      (Backpropamine's simple
                                                               neuromodulation, c = ``clip``)

| paper | here |
|---|---|
| C, b (Ba) / W, b (Miconi) | ``inp`` |
| W (Ba) / W_h (Miconi) | ``rec`` |
| α, w_M, b_M | ``alpha``, ``modulator`` |

States: ``{"h": [B, d], "A": [B, d, d]}`` (Ba) and ``{"h": [B, d], "hebb": [B, d, d]}``
(Miconi). Both traces are computed here (no ops rule covers them yet).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from fastweights.layers.cell import RecurrentCell, State
from fastweights.layers.config import check_types
from fastweights.layers.rnn import NONLINEARITIES


@dataclass
class BaFastWeightsConfig:
    d_model: int = 32
    decay: float = 0.95
    eta: float = 0.5
    inner_steps: int = 1
    activation: str = "relu"

    def __post_init__(self) -> None:
        check_types(self)
        if self.d_model < 1 or self.inner_steps < 1:
            raise ValueError(f"d_model and inner_steps must be >= 1, got {self.d_model}, "
                             f"{self.inner_steps}")
        if self.activation not in NONLINEARITIES:
            raise ValueError(f"activation must be one of {sorted(NONLINEARITIES)}, "
                             f"got {self.activation!r}")


@dataclass
class BaFastWeightsIntermediates:
    A: Tensor  # [B, T, d, d]
    h: Tensor  # [B, T, d]


class BaFastWeights(RecurrentCell):
    Intermediates = BaFastWeightsIntermediates

    def __init__(self, input_size: int, config: BaFastWeightsConfig):
        super().__init__()
        self.config = config
        d = self.d = self.out_size = config.d_model
        self.act = NONLINEARITIES[config.activation]
        self.inp = nn.Linear(input_size, d)
        self.rec = nn.Parameter(0.05 * torch.eye(d))
        self.norm = nn.LayerNorm(d)

    def init_state(self, batch: int, device=None, dtype=None) -> State:
        kw = dict(device=device, dtype=dtype)
        return {"h": torch.zeros(batch, self.d, **kw),
                "A": torch.zeros(batch, self.d, self.d, **kw)}

    def state_size(self) -> int:
        return self.d + self.d * self.d

    def cell(self, x_t: Tensor, state: State, internals: bool) -> tuple[Tensor, State, dict]:
        h, A = state["h"], state["A"]
        c = self.config
        A = c.decay * A + c.eta * torch.einsum("bi,bj->bij", h, h)
        p = h @ self.rec.T + self.inp(x_t)
        hs = self.act(p)
        for _ in range(c.inner_steps):
            hs = self.act(self.norm(p + torch.einsum("bij,bj->bi", A, hs)))
        return hs, {"h": hs, "A": A}, {"A": A, "h": hs} if internals else {}


@dataclass
class PlasticRNNConfig:
    d_model: int = 32
    clip: float = 1.0

    def __post_init__(self) -> None:
        check_types(self)
        if self.d_model < 1 or self.clip <= 0:
            raise ValueError(f"d_model must be >= 1 and clip > 0, got {self.d_model}, "
                             f"{self.clip}")


@dataclass
class PlasticRNNIntermediates:
    hebb: Tensor  # [B, T, d, d]: the trace after each step, Hebb_{t+1}
    modulation: Tensor  # [B, T]: M_t
    h: Tensor  # [B, T, d]


class PlasticRNN(RecurrentCell):
    Intermediates = PlasticRNNIntermediates

    def __init__(self, input_size: int, config: PlasticRNNConfig):
        super().__init__()
        self.clip = config.clip
        d = self.d = self.out_size = config.d_model
        self.inp = nn.Linear(input_size, d)
        self.rec = nn.Parameter(torch.empty(d, d).uniform_(-d ** -0.5, d ** -0.5))
        self.alpha = nn.Parameter(torch.empty(d, d).uniform_(-d ** -0.5, d ** -0.5))
        self.modulator = nn.Linear(d, 1)

    def init_state(self, batch: int, device=None, dtype=None) -> State:
        kw = dict(device=device, dtype=dtype)
        return {"h": torch.zeros(batch, self.d, **kw),
                "hebb": torch.zeros(batch, self.d, self.d, **kw)}

    def state_size(self) -> int:
        return self.d + self.d * self.d

    def cell(self, x_t: Tensor, state: State, internals: bool) -> tuple[Tensor, State, dict]:
        h_prev, hebb = state["h"], state["hebb"]
        weights = self.rec + self.alpha * hebb  # [B, d, d]
        h = torch.tanh(self.inp(x_t) + torch.einsum("bij,bj->bi", weights, h_prev))
        m = torch.tanh(self.modulator(h))  # [B, 1]
        hebb = (hebb + m.unsqueeze(-1) * torch.einsum("bi,bj->bij", h, h_prev)).clamp(
            -self.clip, self.clip)
        inter = {"hebb": hebb, "modulation": m[:, 0], "h": h} if internals else {}
        return h, {"h": h, "hebb": hebb}, inter
