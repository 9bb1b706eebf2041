"""Kimi Delta Attention (Kimi Team 2025, Kimi Linear, §3; fla's ``KimiDeltaAttention``):
the gated delta rule with one decay per key channel, in the Kimi layer.

For each head (d = head_dim = K = V):

    [q̃; k̃; ṽ]_t = SiLU(causal depthwise conv of W_qkv x)         (conv_size c = 4)
    q_t = q̃_t / ‖q̃_t‖,  k_t = k̃_t / ‖k̃_t‖,  v_t = ṽ_t
    g_t = −exp(A_h) · softplus(W_f2 W_f1 x_t + Δ) ∈ ℝ^K             per-key log-decay
          (a rank-d projection; A = e^a with A ~ U[1, 16], softplus(Δ) log-uniform [1e-3, 1e-1])
    β_t = σ(w_β · x_t)
    S_t = (I − β_t k_t k_tᵀ) Diag(e^{g_t}) S_{t−1} + β_t k_t v_tᵀ,  o_t = d^{−1/2} S_tᵀ q_t
    r_t = RMSNorm(o_t) ⊙ σ(W_r2 W_r1 x_t)                            the gated RMSNorm
    y_t = W_o r_t

State: ``S`` [B, H, K, V], ``conv`` [B, 3·d_model, c−1]. Differences from Kimi Linear:
no value-dimension expansion (V = K), the pre-norm block around it is this library's
(``models.stack``), and the MoE/MLA parts of the Kimi model are not here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fastweights.layers.norm import RMSNorm
from fastweights.layers.rule_mixer import RuleMixer, RuleMixerConfig, heads, mamba_dt_bias

KDAConfig = RuleMixerConfig


class KDALayer(RuleMixer):
    def __init__(self, config: KDAConfig):
        c = config
        super().__init__(c, "gated_delta_rule", c.head_dim, c.head_dim, 3 * c.d_model)
        H, d = c.n_heads, c.head_dim
        self.qkv = nn.Linear(c.d_model, 3 * c.d_model, bias=False)
        self.f_proj = nn.Sequential(nn.Linear(c.d_model, d, bias=False),
                                    nn.Linear(d, c.d_model, bias=False))
        self.a_log = nn.Parameter(torch.empty(H).uniform_(1, 16).log())
        self.dt_bias = nn.Parameter(mamba_dt_bias(c.d_model))
        self.beta_proj = nn.Linear(c.d_model, H)
        self.norm = RMSNorm(d)
        self.gate = nn.Sequential(nn.Linear(c.d_model, d, bias=False),
                                  nn.Linear(d, c.d_model))
        self.out = nn.Linear(c.d_model, c.d_model, bias=False)

    def forward(self, x: Tensor, state: dict | None = None, *, mask: Tensor | None = None,
                return_intermediates: bool = False) -> tuple:
        c = self.config
        if state is None:
            state = self.init_state(x.shape[0], x.device, x.dtype)
        u, new = self.convolve(self.qkv(x), state, mask)
        q, k, v = (heads(t, c.n_heads) for t in u.chunk(3, dim=-1))
        g = -self.a_log.exp()[:, None] * heads(F.softplus(self.f_proj(x) + self.dt_bias),
                                              c.n_heads)
        args = {"q": F.normalize(q, dim=-1), "k": F.normalize(k, dim=-1), "v": v, "g": g,
                "beta": torch.sigmoid(self.beta_proj(x))}
        o, s = self.run(args, state, mask)
        r = self.norm(o).flatten(2) * torch.sigmoid(self.gate(x))
        return self.finish(self.out(r), s | new, args, state, return_intermediates)
