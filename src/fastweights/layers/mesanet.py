"""The Mesa layer of MesaNet (von Oswald et al. 2025, §3; fla's ``MesaNet`` layer):
``ops.mesa_rule``, the optimal in-context ridge regression, in the frame of
``rule_mixer.QKVMixer`` (q, k, v after a SiLU short convolution, q and k ℓ2-normalised,
output normalised and gated). Per head:

    γ_t = σ(w_γ · x_t + c_γ),  β_t = σ(w_β · x_t + c_β),  λ = softplus(ℓ) + 0.25 ∈ ℝ^K
    H_kk,t = γ_t H_kk,t−1 + β_t k_t k_tᵀ,   H_kv,t = γ_t H_kv,t−1 + β_t k_t v_tᵀ
    o_t = H_kv,tᵀ (H_kk,t + diag(λ))⁻¹ q_t

c_γ = 3 (γ ≈ 0.95) at the start; ℓ = softplus⁻¹(0.75), so λ = 1. State: ``H_kk``
[B, H, d, d], ``H_kv`` [B, H, d, d] and ``conv``. The read: an exact solve by default
(``cg_steps=None``), or the paper's conjugate-gradient read with ``cg_steps`` iterations
(fla's layer runs 30; at head widths d ≤ 30 that equals the exact solve, since CG is exact
after d iterations).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fastweights.layers.rule_mixer import QKVMixer, RuleMixerConfig

LAMBDA_MIN = 0.25


@dataclass
class MesaConfig(RuleMixerConfig):
    cg_steps: int | None = None  # None: exact solve; else conjugate-gradient iterations

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.cg_steps is not None and self.cg_steps < 1:
            raise ValueError(f"cg_steps must be None (exact solve) or >= 1, got "
                             f"{self.cg_steps}")


class MesaLayer(QKVMixer):
    def __init__(self, config: MesaConfig):
        super().__init__(config, "mesa_rule")
        H = config.n_heads
        self.gate_proj = nn.Linear(config.d_model, 2 * H)
        with torch.no_grad():
            self.gate_proj.bias.copy_(torch.tensor([3.0, 0.0]).repeat_interleave(H))
        self.lam = nn.Parameter(torch.full((H, config.head_dim), math.log(math.expm1(0.75))))

    def op_options(self) -> dict:
        return {} if self.config.cg_steps is None else {"cg_steps": self.config.cg_steps}

    def gates(self, x: Tensor) -> dict[str, Tensor]:
        gamma, beta = self.gate_proj(x).chunk(2, dim=-1)
        lam = F.softplus(self.lam) + LAMBDA_MIN
        return {"g": F.logsigmoid(gamma), "beta": torch.sigmoid(beta),
                "lam": lam.expand(*x.shape[:2], *lam.shape)}
