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

Initialisation of W_0 (``init``), rows by sub-matrix, std σ = 1/√d:

- ``"formal"`` (default): ``SRWMlayer.reset_parameters`` in ``layers.py`` of
  IDSIA/fwp-formal-lang at commit e0c1ce9, the code behind the formal-language results
  (Irie, Csordás & Schmidhuber 2023): y, k rows ~ N(0, σ²), q rows ~ N(0, (0.01 σ)²), β rows
  ~ N(−1, σ²) (``beta_init=-1``: the learning rates start near σ(−1) ≈ 0.27).
- ``"fewshot"``: ``supervised_learning/layer.py`` of IDSIA/modern-srwm at commit 01e6cfd (the
  paper's few-shot experiments): y, q, k rows ~ N(0, σ²), β rows ~ N(−1, σ²).
- ``"normal"``: every row ~ N(0, σ²), as ``reinforcement_learning/torchbeast/layer.py`` there
  (and this library's earlier cell).

Differences from the authors' code: their layer reads its input directly as the heads'
x_t (the model's embedding before it); ours projects the cell input with ``inp``. Their layer
adds a layer-normed residual and an output projection, which our stack/readout supply.

| paper | here |
|---|---|
| W_0 | ``W0`` [H, 3d + 4, d] |
| input projection | ``inp`` (no bias) |
| n_β | ``N_BETA`` = 4 |

The update is the delta rule on S = Wᵀ (``ops.delta_step``, once per sub-matrix m with its
rate σ(b_t)_m): S_m ← S_m + σ(b_t)_m k̂ (v_m − S_mᵀ k̂)ᵀ. State ``{"W": S_t [B, H, d, 3d + 4]}``
(= W_tᵀ), starting at W_0ᵀ; the intermediates report W_t.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from fastweights.layers.cell import RecurrentCell, State
from fastweights.layers.config import check_types
from fastweights.ops import delta_step

N_BETA = 4
INITS = ("formal", "fewshot", "normal")


@dataclass
class SRWMConfig:
    d_model: int = 32
    n_heads: int = 1
    init: str = "formal"

    def __post_init__(self) -> None:
        check_types(self)
        if self.init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {self.init!r}")
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
        W0 = torch.randn(self.H, self.rows, d) * d ** -0.5
        if config.init != "normal":
            W0[:, 3 * d:] -= 1.0  # β rows, mean −1
        if config.init == "formal":
            W0[:, d:2 * d] *= 0.01  # q rows, std 0.01/√d
        self.W0 = nn.Parameter(W0)
        self.groups = [d, d, d, N_BETA]

    def initial_values(self) -> State:
        return {"W": self.W0.mT.unsqueeze(0)}

    def init_state(self, batch: int, device=None, dtype=None) -> State:
        S0 = self.W0.mT.to(device=device, dtype=dtype)
        return {"W": S0.expand(batch, -1, -1, -1)}

    def state_size(self) -> int:
        return self.H * self.rows * self.d

    def cell(self, x_t: Tensor, state: State, internals: bool) -> tuple[Tensor, State, dict]:
        S = state["W"]  # Wᵀ, [B, H, d, rows]
        B, d = x_t.shape[0], self.d
        x = self.inp(x_t).view(B, self.H, d)
        y, q, k, b = torch.einsum("bhji,bhj->bhi", S, x).split(self.groups, dim=-1)
        q, k = q.softmax(-1), k.softmax(-1)
        v = torch.einsum("bhji,bhj->bhi", S, q).split(self.groups, dim=-1)
        lr = torch.sigmoid(b)  # [B, H, 4]
        S = torch.cat([delta_step(S_m, k, v_m, lr[..., m]) for m, (S_m, v_m)
                       in enumerate(zip(S.split(self.groups, -1), v, strict=True))], dim=-1)
        return y.reshape(B, -1), {"W": S}, {"W": S.mT, "lr": lr} if internals else {}
