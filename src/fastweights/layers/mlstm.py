"""The mLSTM block of xLSTM (Beck et al. 2024, §2.3 and Fig. 10; the authors' ``mLSTMLayer``),
with the gate soft-cap of xLSTM-7B (Beck et al. 2025).

With E = proj_factor · d_model inner channels, H heads of d = E / H:

    [x̃; z]_t = W_up x_t                                     x̃, z ∈ ℝ^E
    c_t = SiLU(causal depthwise conv of x̃)                  (conv_size 4)
    q_t = B_q c_t,  k_t = B_k c_t,  v_t = B_v x̃_t            B: block-diagonal, blocks of 4
    ĩ_t = cap(W_i [q; k; v]_t + b_i),  f̃_t = cap(W_f [q; k; v]_t + b_f)   ∈ ℝ^H
          cap(a) = 15 tanh(a / 15)                           (xLSTM-7B's soft-cap)
    h_t, (C, n, m) = mlstm_rule(q, k, v, ĩ, f̃)              (``ops.mlstm_rule``, q / √d)
    h̃_t = GroupNorm_H(h_t) + s ⊙ c_t                        per-head norm, learnable skip s
    y_t = W_down (h̃_t ⊙ SiLU(z_t))                          the output gate, then down

Initialisation as the authors': W_i = W_f = 0, b_f evenly spaced in [3, 6] over the heads,
b_i ~ N(0, 0.1²), s = 1. State: ``C`` [B, H, d, d], ``n`` [B, H, d], ``m`` [B, H],
``conv`` [B, E, 3]. Differences: the stack's block adds an MLP after the layer (xLSTM's
mLSTM block has none: its up-projection is its MLP) and uses RMSNorm as its pre-norm
(xLSTM: LayerNorm); the per-head norm has a weight and a bias (xLSTM: weight only).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from fastweights.layers.rule_mixer import RuleMixer, RuleMixerConfig, heads

BLOCK = 4


@dataclass
class MLSTMConfig(RuleMixerConfig):
    proj_factor: int = 2
    gate_softcap: float = 15.0

    def __post_init__(self) -> None:
        super().__post_init__()
        inner = self.proj_factor * self.d_model
        if self.proj_factor < 1 or inner % BLOCK or inner % self.n_heads:
            raise ValueError(f"proj_factor · d_model ({self.proj_factor} · {self.d_model}) "
                             f"must be a multiple of {BLOCK} and of n_heads ({self.n_heads})")
        if self.gate_softcap <= 0:
            raise ValueError(f"gate_softcap must be > 0, got {self.gate_softcap}")


class BlockDiagonal(nn.Module):
    """y = blockdiag(W_1, …, W_{n/4}) x with 4×4 blocks (xLSTM's ``LinearHeadwiseExpand``)."""

    def __init__(self, n: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n // BLOCK, BLOCK, BLOCK) * BLOCK ** -0.5)

    def forward(self, x: Tensor) -> Tensor:
        x = rearrange(x, "... (n j) -> ... n j", j=BLOCK)
        return rearrange(torch.einsum("...nj,nij->...ni", x, self.weight), "... n i -> ... (n i)")


class MLSTMLayer(RuleMixer):
    def __init__(self, config: MLSTMConfig):
        c = config
        E = c.proj_factor * c.d_model
        super().__init__(c, "mlstm_rule", E // c.n_heads, E // c.n_heads, E)
        H = c.n_heads
        self.up = nn.Linear(c.d_model, 2 * E, bias=False)
        self.q, self.k, self.v = BlockDiagonal(E), BlockDiagonal(E), BlockDiagonal(E)
        self.igate, self.fgate = nn.Linear(3 * E, H), nn.Linear(3 * E, H)
        with torch.no_grad():
            for gate in (self.igate, self.fgate):
                gate.weight.zero_()
            self.igate.bias.normal_(0.0, 0.1)
            self.fgate.bias.copy_(torch.linspace(3.0, 6.0, H))
        self.norm = nn.GroupNorm(H, E)
        self.skip = nn.Parameter(torch.ones(E))
        self.down = nn.Linear(E, c.d_model, bias=False)

    def forward(self, x: Tensor, state: dict | None = None, *, mask: Tensor | None = None,
                return_intermediates: bool = False) -> tuple:
        c = self.config
        if state is None:
            state = self.init_state(x.shape[0], x.device, x.dtype)
        x_in, z = self.up(x).chunk(2, dim=-1)
        conv, new = self.convolve(x_in, state, mask)
        q, k, v = self.q(conv), self.k(conv), self.v(x_in)
        qkv = torch.cat([q, k, v], dim=-1)
        cap = c.gate_softcap
        i, f = (cap * torch.tanh(gate(qkv) / cap) for gate in (self.igate, self.fgate))
        args = {"q": heads(q, c.n_heads), "k": heads(k, c.n_heads), "v": heads(v, c.n_heads),
                "i": i, "f": f}
        h, s = self.run(args, state, mask)
        h = self.norm(h.flatten(2).flatten(0, 1)).view_as(conv) + self.skip * conv
        return self.finish(self.down(h * F.silu(z)), s | new, args, state, return_intermediates)
