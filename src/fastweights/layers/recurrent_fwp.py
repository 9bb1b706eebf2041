"""Recurrent fast weight programmers (Irie, Schlag, Csordás & Schmidhuber 2021, "Going Beyond
Linear Transformers with Recurrent Fast Weight Programmers"): Delta RNN, Delta LSTM and the
Recurrent Delta Net. Fast weights are d×d matrices (rows: outputs), zero at t = 0; a
"delta update" with key k, value v and rate β is

    W ← W + β (v − W k) ⊗ k,    i.e. S ← S + β k (v − Sᵀk)ᵀ with S = Wᵀ (``ops.delta_step``)

and every matrix is updated with step t before it is read (as in ``fastweights.ops``). The
state holds S = Wᵀ ([..., K, V], the ops' layout); the intermediates report W.

Delta RNN (``delta-rnn``), state (W, R ∈ ℝ^{d×d}, y ∈ ℝ^d):

    [q̃, k̃, v, k̃ʳ, vʳ, b, bʳ] = W_slow x_t + b_slow
    q = softmax(q̃), k = softmax(k̃), β = σ(b);   kʳ = softmax(k̃ʳ), βʳ = σ(bʳ)
    W_t = W_{t−1} + β (v − W_{t−1} k) ⊗ k,   R_t = R_{t−1} + βʳ (vʳ − R_{t−1} kʳ) ⊗ kʳ
    y_t = W_t q + R_t softmax(y_{t−1})

Delta LSTM (``delta-lstm``): an LSTM with a coupled input-forget gate and no peepholes (as
in the authors' code) whose six matrices, input Wᵐ and recurrent Rᵐ for m ∈ {i, z, o}, are
fast weights, each delta-updated with its own key, value and rate from the slow net;
state (the six matrices, c, y ∈ ℝ^d):

    [q̃, (k̃ⁿ, vⁿ, bⁿ) for n ∈ {Wⁱ, Wᶻ, Wᵒ, Rⁱ, Rᶻ, Rᵒ}] = W_slow x_t + b_slow
    q = softmax(q̃);  for each n: N_t = N_{t−1} + σ(bⁿ) (vⁿ − N_{t−1} softmax(k̃ⁿ)) ⊗ softmax(k̃ⁿ)
    i_t = σ(Wⁱ_t q + Rⁱ_t s),  z_t = σ(Wᶻ_t q + Rᶻ_t s),  o_t = σ(Wᵒ_t q + Rᵒ_t s),
                                                           s = softmax(y_{t−1})
    c_t = (1 − i_t) ⊙ c_{t−1} + i_t ⊙ z_t,   y_t = o_t ⊙ c_t

(the authors' kernel uses σ for the candidate z too, "to get positive recurrent queries").

Recurrent Delta Net (``rdn``), state (W ∈ ℝ^{d×d}, y ∈ ℝ^d): the slow net sees s = tanh(y_{t−1})

    q = softmax(W_q x_t + R_q s),  k = softmax(W_k x_t + R_k s),  v = W_v x_t + R_v s,
    β = σ(w_β x_t + r_β s)
    W_t = W_{t−1} + β (v − W_{t−1} k) ⊗ k,   y_t = W_t q

with ``n_heads`` heads as in the authors' layer (``RecUpdateTanhFastFFlayer``, IDSIA/recurrent-fwp
and IDSIA/fwp-formal-lang): the above runs per head on d_h = d / n_heads units, head h's R
reading only its own slice of s (R block-diagonal), y the heads concatenated; W is then
[n_heads, d_h, d_h]. The recurrent weights R are initialised N(0, 1/d_h) as there. Heads
matter: with near-uniform softmax keys and queries at initialisation k·q ≈ 1/d_h, so y and
the recurrent signal tanh(y) shrink with the head width; one head of width 32 did not learn
parity in 1,500 steps (sequence accuracy 0.18) where 4 heads of width 8 (the default) did in
500–750 (1.00 on lengths 1–24 and 25–50).

| paper | here |
|---|---|
| W_q, W_k, W_v, w_β (+ biases) | ``slow`` (rows in the order listed) |
| R_q, R_k, R_v, r_β | ``rec`` (RDN; [n_heads, 3 d_h + 1, d_h]) |
| d | ``d_model`` |
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from fastweights.layers.cell import RecurrentCell, State
from fastweights.layers.config import check_types
from fastweights.ops import delta_step


@dataclass
class RecurrentFWPConfig:
    d_model: int = 32

    def __post_init__(self) -> None:
        check_types(self)
        if self.d_model < 1:
            raise ValueError(f"d_model must be >= 1, got {self.d_model}")


@dataclass
class RDNConfig(RecurrentFWPConfig):
    n_heads: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_heads < 1 or self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of "
                             f"n_heads ({self.n_heads})")


def read(S: Tensor, q: Tensor) -> Tensor:
    """W q = Sᵀ q for S [..., K, V], q [..., K]."""
    return torch.einsum("...kv,...k->...v", S, q)


@dataclass
class DeltaRNNIntermediates:
    W: Tensor  # [B, T, d, d]
    R: Tensor  # [B, T, d, d]


class DeltaRNN(RecurrentCell):
    Intermediates = DeltaRNNIntermediates

    def __init__(self, input_size: int, config: RecurrentFWPConfig):
        super().__init__()
        d = self.d = self.out_size = config.d_model
        self.slow = nn.Linear(input_size, 5 * d + 2)

    def init_state(self, batch: int, device=None, dtype=None) -> State:
        d, kw = self.d, dict(device=device, dtype=dtype)
        return {"W": torch.zeros(batch, d, d, **kw), "R": torch.zeros(batch, d, d, **kw),
                "y": torch.zeros(batch, d, **kw)}

    def state_size(self) -> int:
        return 2 * self.d * self.d + self.d

    def cell(self, x_t: Tensor, state: State, internals: bool) -> tuple[Tensor, State, dict]:
        d = self.d
        q, k, v, kr, vr, b, br = self.slow(x_t).split([d] * 5 + [1, 1], dim=-1)
        q, k, kr = q.softmax(-1), k.softmax(-1), kr.softmax(-1)
        W = delta_step(state["W"], k, v, torch.sigmoid(b[:, 0]))  # Wᵀ, [B, d, d]
        R = delta_step(state["R"], kr, vr, torch.sigmoid(br[:, 0]))
        y = read(W, q) + read(R, state["y"].softmax(-1))
        inter = {"W": W.mT, "R": R.mT} if internals else {}
        return y, {"W": W, "R": R, "y": y}, inter


@dataclass
class DeltaLSTMIntermediates:
    fast: Tensor  # [B, T, 6, d, d]: Wⁱ, Wᶻ, Wᵒ, Rⁱ, Rᶻ, Rᵒ
    c: Tensor  # [B, T, d]


class DeltaLSTM(RecurrentCell):
    Intermediates = DeltaLSTMIntermediates

    def __init__(self, input_size: int, config: RecurrentFWPConfig):
        super().__init__()
        d = self.d = self.out_size = config.d_model
        self.slow = nn.Linear(input_size, d + 6 * (2 * d + 1))

    def init_state(self, batch: int, device=None, dtype=None) -> State:
        d, kw = self.d, dict(device=device, dtype=dtype)
        return {"fast": torch.zeros(batch, 6, d, d, **kw), "c": torch.zeros(batch, d, **kw),
                "y": torch.zeros(batch, d, **kw)}

    def state_size(self) -> int:
        return 6 * self.d * self.d + 2 * self.d

    def cell(self, x_t: Tensor, state: State, internals: bool) -> tuple[Tensor, State, dict]:
        B, d = x_t.shape[0], self.d
        q, kvb = self.slow(x_t).split([d, 6 * (2 * d + 1)], dim=-1)
        k, v, b = kvb.view(B, 6, 2 * d + 1).split([d, d, 1], dim=-1)
        # the six fast matrices, transposed: [B, 6, d, d]
        fast = delta_step(state["fast"], k.softmax(-1), v, torch.sigmoid(b[..., 0]))
        pre = read(fast[:, :3], q.softmax(-1).unsqueeze(1)) \
            + read(fast[:, 3:], state["y"].softmax(-1).unsqueeze(1))  # [B, 3, d]
        i, z, o = torch.sigmoid(pre).unbind(1)
        c = (1 - i) * state["c"] + i * z
        y = o * c
        return y, {"fast": fast, "c": c, "y": y}, {"fast": fast.mT, "c": c} if internals else {}


@dataclass
class RDNIntermediates:
    W: Tensor  # [B, T, n_heads, d_h, d_h]


class RecurrentDeltaNet(RecurrentCell):
    Intermediates = RDNIntermediates

    def __init__(self, input_size: int, config: RDNConfig):
        super().__init__()
        self.d = self.out_size = config.d_model
        H = self.H = getattr(config, "n_heads", 1)
        dh = self.dh = self.d // H
        self.slow = nn.Linear(input_size, H * (3 * dh + 1))
        self.rec = nn.Parameter(torch.randn(H, 3 * dh + 1, dh) / math.sqrt(dh))

    def init_state(self, batch: int, device=None, dtype=None) -> State:
        kw = dict(device=device, dtype=dtype)
        return {"W": torch.zeros(batch, self.H, self.dh, self.dh, **kw),
                "y": torch.zeros(batch, self.d, **kw)}

    def state_size(self) -> int:
        return self.H * self.dh * self.dh + self.d

    def cell(self, x_t: Tensor, state: State, internals: bool) -> tuple[Tensor, State, dict]:
        B, H, dh = x_t.shape[0], self.H, self.dh
        s = torch.tanh(state["y"]).view(B, H, dh)
        p = self.slow(x_t).view(B, H, 3 * dh + 1) + torch.einsum("hoi,bhi->bho", self.rec, s)
        q, k, v, b = p.split([dh, dh, dh, 1], dim=-1)
        W = delta_step(state["W"], k.softmax(-1), v, torch.sigmoid(b[..., 0]))  # Wᵀ
        y = read(W, q.softmax(-1)).reshape(B, H * dh)
        return y, {"W": W, "y": y}, {"W": W.mT} if internals else {}
