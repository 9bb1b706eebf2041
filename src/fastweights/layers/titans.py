"""The Titans memory as a layer (Behrouz, Zhong & Mirrokni 2025, §3.1 and §4.3 "memory as
a layer"; linear memory): the momentum delta rule (``ops.momentum_delta_rule``) in the
frame of ``rule_mixer.QKVMixer`` (q, k, v after a SiLU short convolution, q and k
ℓ2-normalised, the paper's §4.4 "architectural details"; output normalised and gated).

Per head, with data-dependent learning rate, momentum and forgetting (paper eqs. 13–14):

    θ_t = σ(w_θ · x_t + c_θ),  η_t = σ(w_η · x_t + c_η),  α_t = σ(w_α · x_t + c_α)
    M_t = η_t M_{t−1} + 2θ_t k_t (v_t − S_{t−1}ᵀ k_t)ᵀ,   S_t = (1 − α_t) S_{t−1} + M_t
    o_t = d^{−1/2} S_tᵀ q_t

c_θ = 0, c_η = −2, c_α = −4 at the start: near the delta rule (little momentum, little
forgetting). State: ``S``, ``M`` [B, H, d, d] and ``conv``. The rule has no neutral step
(S keeps adding M), so a padded row runs its real steps packed (``RuleMixer.run``).
Differences: no persistent memory tokens and no sliding-window attention beside the layer
(a hybrid ``stack`` with ``transformer`` layers gives that); the deep (MLP) memory of the
paper is not an op.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from fastweights.layers.rule_mixer import QKVMixer, RuleMixerConfig

TitansConfig = RuleMixerConfig
BIAS = {"theta": 0.0, "eta": -2.0, "alpha": -4.0}


class TitansMemory(QKVMixer):
    def __init__(self, config: TitansConfig):
        super().__init__(config, "momentum_delta_rule")
        self.gate_proj = nn.Linear(config.d_model, 3 * config.n_heads)
        with torch.no_grad():
            self.gate_proj.bias.copy_(torch.tensor(list(BIAS.values()))
                                      .repeat_interleave(config.n_heads))

    def gates(self, x: Tensor) -> dict[str, Tensor]:
        return dict(zip(BIAS, torch.sigmoid(self.gate_proj(x)).chunk(3, dim=-1), strict=True))
