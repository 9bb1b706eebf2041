"""The fast-weight programmer layer: a slow net that programs a fast weight matrix per head.

For each head (d = head_dim, K = feature_dim(d), state S ∈ ℝ^{K×d}):

    [q̃; k̃; ṽ]_t = W_qkv x_t          then, if conv_size = c ≥ 2, SiLU(causal depthwise
                                     convolution over steps t−c+1 … t), as is common here
    q_t = norm(φ(q̃_t)),  k_t = norm(φ(k̃_t)),  v_t = ṽ_t,  β_t = b·σ(w_β·x_t)
    o_t, S_t = rule(q, k, v, β)                        (fastweights.ops: sum or delta rule)
    y_t = W_o [RMSNorm(o_t) per head, or o_t]

with φ a feature map, ``norm`` a key/query normalisation (``fastweights.featuremaps``), b = 1
(``beta="sigmoid"``) or b = 2 (``beta="2sigmoid"``, negative eigenvalues; Grazzi et al. 2025).
The sum rule ignores β and may use attention normalisation (``normalize=True``).
The layer state is ``FastWeightState(S [B, H, K, V], conv [B, 3·d_model, c−1] or None)``:
the fast weights and the last c−1 projected inputs the convolution still needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from fastweights import featuremaps
from fastweights.ops import delta_rule, sum_rule

RULES = ("sum", "delta")
BETAS = {"sigmoid": 1.0, "2sigmoid": 2.0}


@dataclass
class FastWeightConfig:
    d_model: int = 64
    n_heads: int = 4
    rule: str = "delta"
    feature_map: str = "silu"
    dpfp_nu: int = 1
    qk_norm: str = "l2"
    normalize: bool = False
    beta: str = "sigmoid"
    out_norm: bool = True
    conv_size: int = 4
    form: str = "auto"
    chunk_size: int = 64

    def __post_init__(self) -> None:
        if self.d_model < 1 or self.n_heads < 1 or self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a positive multiple of "
                             f"n_heads ({self.n_heads})")
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {self.rule!r}")
        if self.feature_map not in featuremaps.FEATURE_MAPS:
            raise ValueError(f"feature_map must be one of {sorted(featuremaps.FEATURE_MAPS)}, "
                             f"got {self.feature_map!r}")
        if self.qk_norm not in featuremaps.NORMS:
            raise ValueError(f"qk_norm must be one of {sorted(featuremaps.NORMS)}, "
                             f"got {self.qk_norm!r}")
        if self.beta not in BETAS:
            raise ValueError(f"beta must be one of {sorted(BETAS)}, got {self.beta!r}")
        if self.normalize and self.rule != "sum":
            raise ValueError("normalize=True (attention normalisation) needs rule='sum'")
        if self.conv_size < 0 or self.conv_size == 1:
            raise ValueError(f"conv_size must be 0 (off) or >= 2, got {self.conv_size}")
        if self.dpfp_nu < 1:
            raise ValueError(f"dpfp_nu must be >= 1, got {self.dpfp_nu}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def key_dim(self) -> int:
        return featuremaps.feature_dim(self.feature_map, self.head_dim, self.dpfp_nu)

    @property
    def state_shape(self) -> tuple[int, int, int]:
        """[H, K, V] of the fast weight state (V + 1 with attention normalisation)."""
        return self.n_heads, self.key_dim, self.head_dim + int(self.normalize)


class FastWeightState(NamedTuple):
    S: Tensor  # [B, H, K, V]
    conv: Tensor | None  # [B, 3·d_model, conv_size − 1]


class FastWeightLayer(nn.Module):
    def __init__(self, config: FastWeightConfig):
        super().__init__()
        self.config = c = config
        self.qkv = nn.Linear(c.d_model, 3 * c.d_model, bias=False)
        self.conv = (nn.Conv1d(3 * c.d_model, 3 * c.d_model, c.conv_size, groups=3 * c.d_model)
                     if c.conv_size else None)
        self.beta_proj = nn.Linear(c.d_model, c.n_heads) if c.rule == "delta" else None
        self.out_norm = nn.RMSNorm(c.head_dim) if c.out_norm else None
        self.out = nn.Linear(c.d_model, c.d_model, bias=False)

    def state_size(self) -> int:
        H, K, V = self.config.state_shape
        return H * K * V + 3 * self.config.d_model * max(self.config.conv_size - 1, 0)

    def short_conv(self, u: Tensor, cache: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """Causal depthwise convolution + SiLU over u [B, T, C], with the last c−1 inputs
        of the previous call (zeros at the start) as left context."""
        if self.conv is None:
            return u, None
        u = rearrange(u, "b t c -> b c t")
        if cache is None:
            cache = u.new_zeros(u.shape[0], u.shape[1], self.config.conv_size - 1)
        u = torch.cat([cache, u], dim=-1)
        y = F.silu(self.conv(u))
        return rearrange(y, "b c t -> b t c"), u[..., u.shape[-1] - cache.shape[-1]:]

    def forward(self, x: Tensor, state: FastWeightState | None = None
                ) -> tuple[Tensor, FastWeightState]:
        """x: [B, T, d_model]; state: FastWeightState or None -> (y [B, T, d_model], state)."""
        c = self.config
        S, cache = (None, None) if state is None else state
        qkv, cache = self.short_conv(self.qkv(x), cache)
        q, k, v = rearrange(qkv, "b t (n h d) -> n b t h d", n=3, h=c.n_heads)
        q = featuremaps.apply_norm(c.qk_norm, featuremaps.apply_feature_map(c.feature_map, q,
                                                                            c.dpfp_nu))
        k = featuremaps.apply_norm(c.qk_norm, featuremaps.apply_feature_map(c.feature_map, k,
                                                                            c.dpfp_nu))
        common = dict(initial_state=S, output_final_state=True, form=c.form,
                      chunk_size=c.chunk_size)
        if c.rule == "delta":
            beta = BETAS[c.beta] * torch.sigmoid(self.beta_proj(x))  # [B, T, H]
            o, S = delta_rule(q, k, v, beta, **common)
        else:
            o, S = sum_rule(q, k, v, normalize=c.normalize, **common)
        if self.out_norm is not None:
            o = self.out_norm(o)
        return self.out(rearrange(o, "b t h d -> b t (h d)")), FastWeightState(S, cache)
