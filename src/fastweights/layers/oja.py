"""A fast weight programmer with Oja's rule (Oja 1982; the Hebbian family of Irie & Gershman
2025): ``ops.oja_rule`` in the frame of ``rule_mixer.QKVMixer`` (q, k, v after a SiLU short
convolution, all three ℓ2-normalised, output normalised and gated). Per head:

    β_t = σ(w_β · x_t + c_β)
    g_t = −exp(a) · softplus(w_g · x_t + c_g)  (Mamba2's decay) with ``decay=True``, else 0
    S_t = e^{g_t} S_{t−1} + β_t (k_t − S_{t−1} v_t) v_tᵀ,   o_t = d^{−1/2} S_tᵀ q_t

Oja's rule itself has no decay (the default). Unit values keep β‖v‖² < 2, so the
correction I − β v vᵀ stays a contraction. State: ``S`` [B, H, d, d] and ``conv``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fastweights.layers.rule_mixer import QKVMixer, RuleMixerConfig, mamba_dt_bias


@dataclass
class OjaConfig(RuleMixerConfig):
    decay: bool = False


class OjaLayer(QKVMixer):
    unit_values = True

    def __init__(self, config: OjaConfig):
        super().__init__(config, "oja_rule")
        H = config.n_heads
        self.beta_proj = nn.Linear(config.d_model, H)
        if config.decay:
            self.decay_proj = nn.Linear(config.d_model, H)
            self.a_log = nn.Parameter(torch.empty(H).uniform_(1, 16).log())
            with torch.no_grad():
                self.decay_proj.bias.copy_(mamba_dt_bias(H))

    def gates(self, x: Tensor) -> dict[str, Tensor]:
        beta = torch.sigmoid(self.beta_proj(x))
        g = (-self.a_log.exp() * F.softplus(self.decay_proj(x)) if self.config.decay
             else torch.zeros_like(beta))
        return {"beta": beta, "g": g}
