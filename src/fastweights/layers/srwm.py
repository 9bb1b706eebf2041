"""Self-referential weight matrix (Irie, Schlag, Csordás & Schmidhuber 2022, "A Modern
Self-Referential Weight Matrix That Learns to Modify Itself").

One matrix per head produces its own output, query, key and learning rates and updates
itself by the delta rule. Per head (d = d_model / n_heads, n_β = 4 learning rates, one per
sub-matrix), W_t ∈ ℝ^{(d + 2d + n_β)×d}, W_0 learned:

    x_t = W_in u_t                                   (the cell input, split into heads)
    [y_t, q_t, k_t, b_t] = W_{t−1} x_t
    q̂ = softmax(q_t),  k̂ = softmax(k_t)
    v = W_{t−1} q̂,     v̄ = W_{t−1} k̂
    W_t = W_{t−1} + σ(b_t) (v − v̄) ⊗ k̂              (σ(b_t)_m scales the rows of sub-matrix m:
                                                      the y, q, k and b rows)
    output: y_t (heads concatenated, ∈ ℝ^{d_model})

| paper | here |
|---|---|
| W_0 | ``W0`` [H, 3d + 4, d] |
| input projection | ``inp`` (no bias) |
| n_β | ``N_BETA`` = 4 |

State: W_t, [B, H, 3d + 4, d].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from fastweights.layers.rnn import RecurrentCell, State

N_BETA = 4


@dataclass
class SRWMConfig:
    d_model: int = 32
    n_heads: int = 1

    def __post_init__(self) -> None:
        if self.d_model < 1 or self.n_heads < 1 or self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a positive multiple of "
                             f"n_heads ({self.n_heads})")


@dataclass
class SRWMIntermediates:
    W: Tensor  # [B, T, H, 3d + 4, d]
    lr: Tensor  # [B, T, H, 4]: σ(b_t)


class SRWM(RecurrentCell):
    Intermediates = SRWMIntermediates

    def __init__(self, input_size: int, config: SRWMConfig):
        super().__init__()
        self.H, self.d = config.n_heads, config.d_model // config.n_heads
        self.out_size = config.d_model
        d = self.d
        self.rows = 3 * d + N_BETA
        self.inp = nn.Linear(input_size, config.d_model, bias=False)
        self.W0 = nn.Parameter(torch.randn(self.H, self.rows, d) * d ** -0.5)
        self.register_buffer("row_group", torch.tensor([0] * d + [1] * d + [2] * d
                                                       + [3] * N_BETA), persistent=False)

    def initial_state(self, x: Tensor) -> State:
        return (self.W0.to(x.dtype).expand(x.shape[0], -1, -1, -1),)

    def state_size(self) -> int:
        return self.H * self.rows * self.d

    def cell(self, x_t: Tensor, state: State, internals: bool) -> tuple[Tensor, State, dict]:
        (W,) = state  # [B, H, rows, d]
        B, d = x_t.shape[0], self.d
        x = self.inp(x_t).view(B, self.H, d)
        y, q, k, b = torch.einsum("bhij,bhj->bhi", W, x).split([d, d, d, N_BETA], dim=-1)
        q, k = q.softmax(-1), k.softmax(-1)
        v = torch.einsum("bhij,bhj->bhi", W, q)
        v_bar = torch.einsum("bhij,bhj->bhi", W, k)
        lr = torch.sigmoid(b)  # [B, H, 4]
        W = W + torch.einsum("bhi,bhj->bhij", lr[..., self.row_group] * (v - v_bar), k)
        return y.reshape(B, -1), (W,), {"W": W, "lr": lr} if internals else {}
