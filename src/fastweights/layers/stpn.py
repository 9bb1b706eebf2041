"""Short-Term Plasticity Neuron (Rodriguez, Guo & Moraitis 2022, "Short-Term Plasticity
Neurons Learning to Learn and Forget"): every synapse has a learned long-term weight W and a
short-term trace F with its own learned decay Λ and plasticity Γ.

    z_t = [x_t; h_{t−1}]  (STPNr, ``recurrent=True``, registry ``stpn``)
          or x_t          (STPNf, ``recurrent=False``, registry ``stpnf``)     z ∈ ℝ^n
    G_t = W + F_t,   N_t = ‖G_t‖_row                  efficacy ∈ ℝ^{d×n}, its row norms
    G̃_t = G_t / N_t
    h_t = tanh(G̃_t z_t + b)                           (no b with ``bias=False``)
    z'_t = [x_t; h_t]  (``variant="art"``: the new state, as the associative-retrieval net)
           z_t         (``variant="demo"``/``"legacy"``, and always for STPNf)
    F̂_t = F_t / N_t    (``norm="before"``)  or  F_t  (every other norm)
    Δ_t = h_t ⊗ z'_t                    (``rule="hebb"``)
          h_t ⊗ (z'_t − F̂_tᵀ h_t)       (``rule="oja"``; ``legacy``: F_t in place of F̂_t)
    F_{t+1} = clamp(Λ ⊙ F̂_t + Γ ⊙ Δ_t)                    (``norm="before"``: time="pre")
    F_{t+1} = clamp(Λ ⊙ F_t + Γ ⊙ Δ_t)                     (``norm="none"``)
    F_{t+1} = P / ‖W + P‖_row,  P = clamp(Λ ⊙ F_t + Γ ⊙ Δ_t)   (``norm="post"``: time="post")
    F_{t+1} = clamp((Λ ⊙ F_t + Γ ⊙ Δ_t) / N_t)            (``norm="after"``, this library's
                                                          earlier option)
    clamp(·) = clip to [−c, c] with ``clamp=c`` (identity when None)
    E_t = Σ_ij |G̃_t,ij| z_t,j²                        energy, in the intermediates

F_0 = 0. Λ, Γ are per synapse (d×n) or, with ``per_synapse=False``, one scalar each (the
paper's ablation). Initialisation, with k = d (STPNr) or k = n (STPNf) as the authors'
``k_for_weight_init``: W, b ~ U(±1/√k), λ ~ U(0, 1), γ ~ 10⁻³·U(±1/√k); ``variant="legacy"``
draws W, b ~ U(±1/√d) and γ ~ 10⁻³·U(±1).

Variants (``variant``), following NeuromorphicComputing/stpn at commit d7b346d:

- ``"art"`` (default): ``AssociativeRetrievalTask/run_art.py`` with ``Scripts/Nets.py``
  ``NoEmbed_AssociativeNet`` and ``Scripts/STPLayers.py`` ``STPNr``/``STPNF``, configs
  ``ART_STPN_h11.json`` (registry ``stpn``: ``norm="before"``, bias) and
  ``ablation/ART_STPNf_h13.json`` (registry ``stpnf``: ``norm="none"``, no bias: their
  STPNF adds no bias when it normalises G, and never normalises F). The paper's
  associative-retrieval numbers come from these.
- ``"demo"``: ``simple_script.py`` and the Maze wrapper (``Maze/Scripts/maze_nets.py``), whose
  Hebbian term reads h_{t−1}.
- ``"legacy"``: this library's earlier cell (h_{t−1} in the Hebbian term, raw F in Oja's term,
  the init above).

Differences from the authors' code: their row norm adds 10⁻¹⁶ to N_t (we divide by N_t);
their plastic bias, learned norm gains and ``stp_prompt_decay`` options are not here; their
STPNf still allocates (and initialises, but never uses) a bias vector, which we drop, so our
parameter count is d smaller.

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
NORMS = ("before", "none", "post", "after")
VARIANTS = ("art", "demo", "legacy")


@dataclass
class STPNConfig:
    d_model: int = 32
    recurrent: bool = True
    rule: str = "hebb"
    norm: str = "before"
    per_synapse: bool = True
    clamp: float | None = None
    bias: bool = True
    variant: str = "art"

    def __post_init__(self) -> None:
        check_types(self)
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
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
        legacy = config.variant == "legacy"
        r = (d if legacy or config.recurrent else n) ** -0.5  # 1/√k
        self.W = nn.Parameter(torch.empty(d, n).uniform_(-r, r))
        self.b = nn.Parameter(torch.empty(d).uniform_(-r, r)) if config.bias else None
        shape = (d, n) if config.per_synapse else (1,)
        self.lam = nn.Parameter(torch.rand(shape))
        g = 1e-3 if legacy else 1e-3 * r
        self.gamma = nn.Parameter(torch.empty(shape).uniform_(-g, g))

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
        pre = torch.einsum("bij,bj->bi", G_tilde, z)
        h = torch.tanh(pre if self.b is None else pre + self.b)
        z_hebb = torch.cat([x_t, h], dim=-1) if c.recurrent and c.variant == "art" else z
        F_hat = F / row_norm if c.norm == "before" else F
        if c.rule == "hebb":
            delta = torch.einsum("bi,bj->bij", h, z_hebb)
        else:
            F_oja = F if c.variant == "legacy" else F_hat
            delta = torch.einsum("bi,bj->bij", h, z_hebb - torch.einsum("bij,bi->bj", F_oja, h))
        F_next = (self.lam * F + self.gamma * delta) / row_norm if c.norm == "after" \
            else self.lam * F_hat + self.gamma * delta
        if c.clamp is not None:
            F_next = F_next.clamp(-c.clamp, c.clamp)
        if c.norm == "post":
            F_next = F_next / (self.W + F_next).norm(dim=-1, keepdim=True)
        new_state = {"h": h, "F": F_next} if c.recurrent else {"F": F_next}
        if not internals:
            return h, new_state, {}
        energy = (G_tilde.abs() * z.square().unsqueeze(1)).sum((1, 2))
        return h, new_state, {"F": F_next, "h": h, "energy": energy}
