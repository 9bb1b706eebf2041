"""The RWKV-7 time mix (Peng et al. 2025, "Goose", §4 and the authors' ``RWKV_Tmix_x070``):
token shift, the generalised delta rule (``ops.dplr_delta_rule``), the bonus term and a
per-head group norm.

With x_{−1} from the state (0 at the start) and δ_t = x_{t−1} − x_t (token shift):

    x^∗_t = x_t + μ_∗ ⊙ δ_t               for ∗ ∈ {r, w, k, v, a, g}, μ_∗ ∈ ℝ^d learned
    r_t = W_r x^r,  k_t = W_k x^k,  v_t = W_v x^v
    log w_t = −e^{−0.5} σ(w₀ + tanh(x^w A_w) B_w)      per channel, w_t ∈ (e^{−0.607}, 1)
    a_t = σ(a₀ + x^a A_a B_a)                           the in-context learning rate
    g_t = σ(x^g A_g) B_g                                the output gate
    κ̂_t = normalise_per_head(k_t ⊙ ξ),   k_t ← k_t ⊙ (1 + (a_t − 1) ⊙ α)
    S_t = Diag(w_t) S_{t−1} − (κ̂_t ⊙ a_t)(κ̂_tᵀ S_{t−1}) + k_t v_tᵀ,   o_t = S_tᵀ r_t
          (the op's a = −κ̂, b = κ̂ ⊙ a, g = log w; scale 1)
    p_t = GroupNorm_H(o_t) + ((r_t ⊙ k_t ⊙ ρ)·1 per head) v_t       the bonus term
    y_t = W_o (p_t ⊙ g_t)

A, B are low-rank pairs (rank ``rank``); ξ, α, ρ learned per channel (ξ = 0.85, α = 1,
ρ = 0 at the start, so the bonus term grows from nothing); μ_∗ and w₀ start as the
authors' first layer (``MIX_POWERS``), a₀ = 0. State: ``S`` [B, H, d, d] and
``shift`` [B, d_model] (the last real input x). A masked step is skipped by the token shift
too: x_{t−1} is the row's last real input. Differences from the authors' code: no value
residual across layers (v_first), every layer starts as the authors' first (their μ_∗
and w₀ depend on the layer index), low-rank initialisations are plain PyTorch defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fastweights.layers.rule_mixer import RuleMixer, RuleMixerConfig, heads

MIXES = ("r", "w", "k", "v", "a", "g")
# the authors' first-layer initialisation: μ_∗,i = 1 − (i/d)^{p_∗}, and w₀,i rising from
# −6.5 to −1.5 over the channels (slow decays first)
MIX_POWERS = (0.2, 0.9, 0.7, 0.7, 0.9, 0.2)


@dataclass
class RWKV7Config(RuleMixerConfig):
    conv_size: int = 0
    rank: int = 8

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.conv_size:
            raise ValueError("RWKV-7 has no short convolution (its token shift is the "
                             f"layer's local mixing): conv_size must be 0, got {self.conv_size}")
        if self.rank < 1:
            raise ValueError(f"rank must be >= 1, got {self.rank}")


def token_shift(x: Tensor, last: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    """x_{t−1} for every t of x [B, T, D] (``last`` [B, D] before the first step), skipping
    masked steps; returns (x_prev [B, T, D], the new ``last``)."""
    B, T, _ = x.shape
    if mask is None:
        prev = torch.cat([last[:, None], x[:, :-1]], dim=1)
        return prev, (x[:, -1] if T else last)
    t = torch.arange(T, device=x.device).expand(B, T)
    seen = torch.where(mask, t, -1).cummax(dim=1).values  # last real step ≤ t, −1 if none
    before = torch.cat([seen.new_full((B, 1), -1), seen[:, :-1]], dim=1)  # last real < t
    pick = lambda idx: torch.where((idx >= 0)[..., None],  # noqa: E731
                                   x.gather(1, idx.clamp(min=0)[..., None].expand(-1, -1,
                                                                                  x.shape[-1])),
                                   last[:, None])
    return pick(before), (pick(seen[:, -1:])[:, 0] if T else last)


class RWKV7TimeMix(RuleMixer):
    scale = 1.0

    def __init__(self, config: RWKV7Config):
        c = config
        super().__init__(c, "dplr_delta_rule", c.head_dim, c.head_dim)
        self.extra_state = {"shift": (c.d_model,)}
        D, r = c.d_model, c.rank
        i = torch.arange(D) / D
        self.mu = nn.Parameter(torch.stack([1 - i ** p for p in MIX_POWERS]))
        self.r, self.k, self.v = (nn.Linear(D, D, bias=False) for _ in range(3))
        self.w0 = nn.Parameter(-6.5 + 5 * (torch.arange(D) / max(D - 1, 1)) ** 0.85)
        self.w_lora = nn.Sequential(nn.Linear(D, r, bias=False), nn.Tanh(),
                                    nn.Linear(r, D, bias=False))
        self.a0 = nn.Parameter(torch.zeros(D))
        self.a_lora = nn.Sequential(nn.Linear(D, r, bias=False), nn.Linear(r, D, bias=False))
        self.g_lora = nn.Sequential(nn.Linear(D, r, bias=False), nn.Sigmoid(),
                                    nn.Linear(r, D, bias=False))
        self.k_k = nn.Parameter(torch.full((D,), 0.85))
        self.k_a = nn.Parameter(torch.ones(D))
        self.r_k = nn.Parameter(torch.zeros(c.n_heads, c.head_dim))
        self.norm = nn.GroupNorm(c.n_heads, D, eps=64e-5)
        self.out = nn.Linear(D, D, bias=False)

    def forward(self, x: Tensor, state: dict | None = None, *, mask: Tensor | None = None,
                return_intermediates: bool = False) -> tuple:
        H = self.config.n_heads
        if state is None:
            state = self.init_state(x.shape[0], x.device, x.dtype)
        prev, last = token_shift(x, state["shift"], mask)
        xr, xw, xk, xv, xa, xg = (x + mu * (prev - x) for mu in self.mu)
        r, k, v = heads(self.r(xr), H), self.k(xk), heads(self.v(xv), H)
        log_w = -math.exp(-0.5) * torch.sigmoid(self.w0 + self.w_lora(xw))
        a_rate = torch.sigmoid(self.a0 + self.a_lora(xa))
        kappa = F.normalize(heads(k * self.k_k, H), dim=-1)
        k = heads(k * (1 + (a_rate - 1) * self.k_a), H)
        args = {"q": r, "k": k, "v": v, "a": -kappa, "b": kappa * heads(a_rate, H),
                "g": heads(log_w, H)}
        o, s = self.run(args, state, mask)
        p = self.norm(o.flatten(2).flatten(0, 1)).view_as(x)
        p = p + ((r * k * self.r_k).sum(-1, keepdim=True) * v).flatten(2)
        y = self.out(p * self.g_lora(xg))
        return self.finish(y, s | {"shift": last}, args, state, return_intermediates)
