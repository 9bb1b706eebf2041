"""Short-Term Plasticity Neuron (Rodriguez, Guo & Moraitis 2022, "Short-Term Plasticity
Neurons Learning to Learn and Forget"): every synapse has a learned long-term weight W and a
short-term trace F with its own learned decay Λ and plasticity Γ.

    z_t = [x_t; h_{t−1}]  (STPNr, ``recurrent=True``, registry ``stpn``)
          or x_t          (STPNf, ``recurrent=False``, registry ``stpnf``)     z ∈ ℝ^n
    G_t = W + F_t                                     efficacy, ∈ ℝ^{d×n}
    G̃_t = G_t / ‖G_t‖_row                             each row divided by its L2 norm
    h_t = tanh(G̃_t z_t + b)
    Δ_t = h_t ⊗ z_t                     (``rule="hebb"``)
          h_t ⊗ (z_t − F_tᵀ h_t)        (``rule="oja"``)
    F_{t+1} = Λ ⊙ (F_t / ‖G_t‖_row) + Γ ⊙ Δ_t        (``norm="before"``, the paper's)
    F_{t+1} = (Λ ⊙ F_t + Γ ⊙ Δ_t) / ‖G_t‖_row        (``norm="after"``)
    F_{t+1} ← clamp(F_{t+1}, −c, c)                   (when ``clamp=c`` is set)
    E_t = Σ_ij |G̃_t,ij| z_t,j²                        energy, in the intermediates

F_0 = 0. Λ, Γ are per synapse (d×n; λ ~ U(0, 1), γ ~ U(−10⁻³, 10⁻³) at init) or, with
``per_synapse=False``, one scalar each (the paper's ablation).

| paper | here |
|---|---|
| W, b | ``W``, ``b`` |
| Λ, Γ | ``lam``, ``gamma`` |
| d | ``d_model`` |

State: ``{"h": [B, d], "F": [B, d, n]}`` for STPNr; ``{"F"}`` for STPNf, whose output needs
no h_{t−1}. The Hebb and Oja traces are computed here (the ops hold no per-synapse-decay
rule yet).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from fastweights.layers.cell import RecurrentCell, State
from fastweights.layers.config import check_types

RULES = ("hebb", "oja")
NORMS = ("before", "after")


@dataclass
class STPNConfig:
    d_model: int = 32
    recurrent: bool = True
    rule: str = "hebb"
    norm: str = "before"
    per_synapse: bool = True
    clamp: float | None = None

    def __post_init__(self) -> None:
        check_types(self)
        if self.d_model < 1:
            raise ValueError(f"d_model must be >= 1, got {self.d_model}")
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {self.rule!r}")
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if self.clamp is not None and self.clamp <= 0:
            raise ValueError(f"clamp must be > 0 or None, got {self.clamp}")


@dataclass
class STPNIntermediates:
    F: Tensor  # [B, T, d, n]: the trace after each step, F_{t+1}
    h: Tensor  # [B, T, d]
    energy: Tensor  # [B, T]


class STPN(RecurrentCell):
    Intermediates = STPNIntermediates

    def __init__(self, input_size: int, config: STPNConfig):
        super().__init__()
        self.config = config
        d = self.d = self.out_size = config.d_model
        n = self.n = input_size + (d if config.recurrent else 0)
        self.W = nn.Parameter(torch.empty(d, n).uniform_(-d ** -0.5, d ** -0.5))
        self.b = nn.Parameter(torch.empty(d).uniform_(-d ** -0.5, d ** -0.5))
        shape = (d, n) if config.per_synapse else (1,)
        self.lam = nn.Parameter(torch.rand(shape))
        self.gamma = nn.Parameter(torch.empty(shape).uniform_(-1e-3, 1e-3))

    def init_state(self, batch: int, device=None, dtype=None) -> State:
        kw = dict(device=device, dtype=dtype)
        F = {"F": torch.zeros(batch, self.d, self.n, **kw)}
        return {"h": torch.zeros(batch, self.d, **kw)} | F if self.config.recurrent else F

    def state_size(self) -> int:
        return self.d * self.n + (self.d if self.config.recurrent else 0)

    def cell(self, x_t: Tensor, state: State, internals: bool) -> tuple[Tensor, State, dict]:
        c = self.config
        F = state["F"]
        z = torch.cat([x_t, state["h"]], dim=-1) if c.recurrent else x_t
        G = self.W + F  # [B, d, n]
        row_norm = G.norm(dim=-1, keepdim=True)  # [B, d, 1]
        G_tilde = G / row_norm
        h = torch.tanh(torch.einsum("bij,bj->bi", G_tilde, z) + self.b)
        if c.rule == "hebb":
            delta = torch.einsum("bi,bj->bij", h, z)
        else:
            delta = torch.einsum("bi,bj->bij", h, z - torch.einsum("bij,bi->bj", F, h))
        if c.norm == "before":
            F_next = self.lam * (F / row_norm) + self.gamma * delta
        else:
            F_next = (self.lam * F + self.gamma * delta) / row_norm
        if c.clamp is not None:
            F_next = F_next.clamp(-c.clamp, c.clamp)
        new_state = {"h": h, "F": F_next} if c.recurrent else {"F": F_next}
        if not internals:
            return h, new_state, {}
        energy = (G_tilde.abs() * z.square().unsqueeze(1)).sum((1, 2))
        return h, new_state, {"F": F_next, "h": h, "energy": energy}
