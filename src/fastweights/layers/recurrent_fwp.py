"""Recurrent fast weight programmers (Irie, Schlag, Csordás & Schmidhuber 2021, "Going Beyond
Linear Transformers with Recurrent Fast Weight Programmers"): Delta RNN, Delta LSTM and the
Recurrent Delta Net. Fast weights are d×d matrices (rows: outputs), zero at t = 0; a
"delta update" with key k, value v and rate β is

    W ← W + β (v − W k) ⊗ k,    i.e. S ← S + β k (v − Sᵀk)ᵀ with S = Wᵀ (``ops.delta_step``)

and every matrix is updated with step t before it is read (as in ``fastweights.ops``). The
state holds S = Wᵀ ([..., K, V], the ops' layout); the intermediates report W.

With ``n_heads`` heads (Delta RNN, Delta LSTM, RDN) every equation below runs per head on
d_h = d / n_heads units (keys, queries, values and each head's slice of y), the fast matrices
are [n_heads, d_h, d_h] and y is the heads concatenated. φ(a) = elu(a) + 1 divided by its sum
(the authors' ``elu_p1`` then ``sum_norm``); softmax is over one head's d_h units.

Delta RNN (``delta-rnn``), state (W, R, y):

    [q̃, k̃, v, k̃ʳ, vʳ, b, bʳ] = W_slow x_t (+ b_slow with ``variant="rl"``)
    q = φ(q̃), k = φ(k̃)   (``variant="lm"``)   or   softmax(q̃), softmax(k̃)   (``"rl"``)
    kʳ = softmax(k̃ʳ),  β = σ(b),  βʳ = σ(bʳ)
    W_t = W_{t−1} + β (v − W_{t−1} k) ⊗ k,   R_t = R_{t−1} + βʳ (vʳ − R_{t−1} kʳ) ⊗ kʳ
    y_t = W_t q + R_t softmax(y_{t−1})

``"lm"`` (default): the language-model layer ``CudaFastRNNv2Layer`` (attn_type 134, "Delta
RNN v2", run with ``--skip_attn_normalization``) in ``language_modeling/src/utils/
cuda_fast_weight_layer.py`` with kernel ``fast_weight_rnn_v2``, IDSIA/recurrent-fwp at commit
781e378 (the paper's Table 2); default 4 heads. ``"rl"``: softmax q and k as ``FastRNNlayer``
in ``reinforcement_learning/torchbeast/layer.py`` of the same repository (the Atari agent),
plus a slow bias that layer does not have (this library's earlier cell, pinned at one head).

Delta LSTM (``delta-lstm``): an LSTM with a coupled input-forget gate and no peepholes whose
gates' input and recurrent parts are fast weights, each delta-updated with its own key, value
and rate from the slow net; state (the six matrices Wⁱ, Wᶻ, Wᵒ, Rⁱ, Rᶻ, Rᵒ, c, y):

``variant="v4"`` (default; ``CudaFastLSTMv4Layer``, attn_type 254, kernel ``fast_lstm_v4``,
the paper's Table 2 model; one head by default, the language model had 8), for m ∈ {i, z, o},
no slow bias:

    [(q̃ᵐ, k̃ᵐ, vᵐ, k̃ʳᵐ, vʳᵐ) for m ∈ {i, z, o}, (bᵐ, bʳᵐ) for m] = W_slow x_t
    Wᵐ_t = Wᵐ_{t−1} + σ(bᵐ) (vᵐ − Wᵐ_{t−1} φ(k̃ᵐ)) ⊗ φ(k̃ᵐ)
    Rᵐ_t = Rᵐ_{t−1} + σ(bʳᵐ) (vʳᵐ − Rᵐ_{t−1} softmax(k̃ʳᵐ)) ⊗ softmax(k̃ʳᵐ)
    aᵐ_t = Wᵐ_t φ(q̃ᵐ) + Rᵐ_t s,   s = softmax(y_{t−1})
    i_t = σ(aⁱ_t),  z_t = aᶻ_t (identity candidate),  o_t = σ(aᵒ_t)
    c_t = (1 − i_t) ⊙ c_{t−1} + i_t ⊙ z_t,   y_t = o_t ⊙ c_t

``variant="v2"`` (``CudaFastLSTMv2Layer``, attn_type 234; this library's earlier cell): one
shared query q = softmax(q̃) for the three input-side matrices, softmax keys for all six, a
slow bias, and σ for the candidate too ("to get positive recurrent queries"):

    [q̃, (k̃ⁿ, vⁿ, bⁿ) for n ∈ {Wⁱ, Wᶻ, Wᵒ, Rⁱ, Rᶻ, Rᵒ}] = W_slow x_t + b_slow
    N_t = N_{t−1} + σ(bⁿ) (vⁿ − N_{t−1} softmax(k̃ⁿ)) ⊗ softmax(k̃ⁿ)
    i_t, z_t, o_t = σ(Wᵐ_t q + Rᵐ_t s)

Differences from the authors' code (Delta RNN ``lm`` and Delta LSTM ``v4``): their layer wraps
the cell in a residual block (layer norm, output projection) and scales the cell's output by
1/√d_h before it; here the cell's output y_t goes to the model's readout unscaled (a linear
readout absorbs the scale, but not at initialisation). Their recurrent softmax adds 10⁻⁵ to
its denominator. Their slow projection's weights are laid out per head as ours.

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
| W_q, W_k, W_v, w_β (+ biases) | ``slow`` (per head, rows in the order listed) |
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


@dataclass
class DeltaRNNConfig(RDNConfig):
    variant: str = "lm"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.variant not in ("lm", "rl"):
            raise ValueError(f"variant must be 'lm' or 'rl', got {self.variant!r}")


@dataclass
class DeltaLSTMConfig(RDNConfig):
    n_heads: int = 1  # the v4 slow net is 15 d + 6 H wide: one head fits small budgets
    variant: str = "v4"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.variant not in ("v4", "v2"):
            raise ValueError(f"variant must be 'v4' or 'v2', got {self.variant!r}")


def elu_p1_sum_norm(a: Tensor) -> Tensor:
    """φ(a) = (elu(a) + 1) / Σ (elu(a) + 1) over the last dim."""
    y = torch.nn.functional.elu(a) + 1
    return y / y.sum(-1, keepdim=True)


def read(S: Tensor, q: Tensor) -> Tensor:
    """W q = Sᵀ q for S [..., K, V], q [..., K]."""
    return torch.einsum("...kv,...k->...v", S, q)


@dataclass
class DeltaRNNIntermediates:
    W: Tensor  # [B, T, n_heads, d_h, d_h]
    R: Tensor  # [B, T, n_heads, d_h, d_h]


class DeltaRNN(RecurrentCell):
    Intermediates = DeltaRNNIntermediates

    def __init__(self, input_size: int, config: DeltaRNNConfig):
        super().__init__()
        self.lm = config.variant == "lm"
        self.d = self.out_size = config.d_model
        H = self.H = config.n_heads
        dh = self.dh = self.d // H
        self.slow = nn.Linear(input_size, H * (5 * dh + 2), bias=not self.lm)

    def init_state(self, batch: int, device=None, dtype=None) -> State:
        kw = dict(device=device, dtype=dtype)
        shape = (batch, self.H, self.dh, self.dh)
        return {"W": torch.zeros(shape, **kw), "R": torch.zeros(shape, **kw),
                "y": torch.zeros(batch, self.d, **kw)}

    def state_size(self) -> int:
        return 2 * self.H * self.dh * self.dh + self.d

    def cell(self, x_t: Tensor, state: State, internals: bool) -> tuple[Tensor, State, dict]:
        B, H, dh = x_t.shape[0], self.H, self.dh
        p = self.slow(x_t).view(B, H, 5 * dh + 2)
        q, k, v, kr, vr, b, br = p.split([dh] * 5 + [1, 1], dim=-1)
        fmap = elu_p1_sum_norm if self.lm else (lambda a: a.softmax(-1))
        W = delta_step(state["W"], fmap(k), v, torch.sigmoid(b[..., 0]))  # Wᵀ
        R = delta_step(state["R"], kr.softmax(-1), vr, torch.sigmoid(br[..., 0]))
        s = state["y"].view(B, H, dh).softmax(-1)
        y = (read(W, fmap(q)) + read(R, s)).reshape(B, H * dh)
        inter = {"W": W.mT, "R": R.mT} if internals else {}
        return y, {"W": W, "R": R, "y": y}, inter


@dataclass
class DeltaLSTMIntermediates:
    fast: Tensor  # [B, T, 6, n_heads, d_h, d_h]: Wⁱ, Wᶻ, Wᵒ, Rⁱ, Rᶻ, Rᵒ
    c: Tensor  # [B, T, d]


class DeltaLSTM(RecurrentCell):
    Intermediates = DeltaLSTMIntermediates

    def __init__(self, input_size: int, config: DeltaLSTMConfig):
        super().__init__()
        self.v4 = config.variant == "v4"
        self.d = self.out_size = config.d_model
        H = self.H = config.n_heads
        dh = self.dh = self.d // H
        width = 15 * dh + 6 if self.v4 else dh + 6 * (2 * dh + 1)
        self.slow = nn.Linear(input_size, H * width, bias=not self.v4)

    def init_state(self, batch: int, device=None, dtype=None) -> State:
        kw = dict(device=device, dtype=dtype)
        return {"fast": torch.zeros(batch, 6, self.H, self.dh, self.dh, **kw),
                "c": torch.zeros(batch, self.d, **kw), "y": torch.zeros(batch, self.d, **kw)}

    def state_size(self) -> int:
        return 6 * self.H * self.dh * self.dh + 2 * self.d

    def _slow(self, x_t: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Queries [B, 3, H, d_h] and the six keys, values, rates [B, 6, H, ...]."""
        B, H, dh = x_t.shape[0], self.H, self.dh
        if not self.v4:
            q, kvb = self.slow(x_t).view(B, H, -1).split([dh, 6 * (2 * dh + 1)], dim=-1)
            k, v, b = kvb.view(B, H, 6, 2 * dh + 1).transpose(1, 2).split([dh, dh, 1], -1)
            return q.softmax(-1).unsqueeze(1).expand(B, 3, H, dh), k.softmax(-1), v, b
        p = self.slow(x_t).view(B, H, 15 * dh + 6)
        qkv = p[..., :15 * dh].view(B, H, 3, 5, dh).transpose(1, 2)  # [B, 3 gates, H, 5, d_h]
        q, k, v, kr, vr = qkv.unbind(3)
        b = p[..., 15 * dh:].view(B, H, 3, 2).permute(0, 3, 2, 1).reshape(B, 6, H, 1)
        k = torch.cat([elu_p1_sum_norm(k), kr.softmax(-1)], dim=1)
        return elu_p1_sum_norm(q), k, torch.cat([v, vr], dim=1), b

    def cell(self, x_t: Tensor, state: State, internals: bool) -> tuple[Tensor, State, dict]:
        B, H, dh = x_t.shape[0], self.H, self.dh
        q, k, v, b = self._slow(x_t)
        # the six fast matrices, transposed: [B, 6, H, d_h, d_h]
        fast = delta_step(state["fast"], k, v, torch.sigmoid(b[..., 0]))
        s = state["y"].view(B, 1, H, dh).softmax(-1)
        pre = (read(fast[:, :3], q) + read(fast[:, 3:], s)).reshape(B, 3, self.d)
        i, z, o = pre.unbind(1)
        i, o = torch.sigmoid(i), torch.sigmoid(o)
        z = z if self.v4 else torch.sigmoid(z)
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
