"""The Mesa layer of MesaNet (von Oswald et al. 2025, §3; fla's ``MesaNet`` layer):
``ops.mesa_rule``, the optimal in-context ridge regression, in the frame of
``rule_mixer.QKVMixer`` (q, k, v after a SiLU short convolution, q and k ℓ2-normalised,
output normalised and gated). Per head:

    γ_t = σ(w_γ · x_t + c_γ),  β_t = σ(w_β · x_t + c_β),  λ = softplus(ℓ) + 0.25 ∈ ℝ^K
    H_kk,t = γ_t H_kk,t−1 + β_t k_t k_tᵀ,   H_kv,t = γ_t H_kv,t−1 + β_t k_t v_tᵀ
    o_t = H_kv,tᵀ (H_kk,t + diag(λ))⁻¹ q_t

c_γ = 3 (γ ≈ 0.95) at the start; ℓ = softplus⁻¹(0.75), so λ = 1. State: ``H_kk``
[B, H, d, d], ``H_kv`` [B, H, d, d] and ``conv``. Difference: the read is an exact solve
(the op's), where the paper runs a few conjugate-gradient steps.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fastweights.layers.rule_mixer import QKVMixer, RuleMixerConfig

MesaConfig = RuleMixerConfig
LAMBDA_MIN = 0.25


class MesaLayer(QKVMixer):
    def __init__(self, config: MesaConfig):
        super().__init__(config, "mesa_rule")
        H = config.n_heads
        self.gate_proj = nn.Linear(config.d_model, 2 * H)
        with torch.no_grad():
            self.gate_proj.bias.copy_(torch.tensor([3.0, 0.0]).repeat_interleave(H))
        self.lam = nn.Parameter(torch.full((H, config.head_dim), math.log(math.expm1(0.75))))

    def gates(self, x: Tensor) -> dict[str, Tensor]:
        gamma, beta = self.gate_proj(x).chunk(2, dim=-1)
        lam = F.softplus(self.lam) + LAMBDA_MIN
        return {"g": F.logsigmoid(gamma), "beta": torch.sigmoid(beta),
                "lam": lam.expand(*x.shape[:2], *lam.shape)}
