"""Causal softmax attention with a KV cache: the transformer baseline's sequence mixer.

Vaswani et al. 2017; rotary positions (RoPE) from Su et al. 2021. Per head (d = head_dim):

    [q_t; k_t; v_t] = W_qkv x_t
    q_t, k_t ← R(p_t) q_t, R(p_t) k_t     with rope=True: rotation of each pair (i, i + ⌊d/2⌋)
                                          by angle p_t · base^{−2i/d}, p_t the absolute position
    o_t = Σ_{s ≤ t} softmax_s(q_tᵀ k_s / √d) v_s        (over the cached and the new steps)
    y_t = W_o o_t

computed by ``torch.nn.functional.scaled_dot_product_attention``. The state is
``KVCache(k [B, H, T_seen, d], v [B, H, T_seen, d])``: every key (after rotation) and value
seen so far, so p_t = T_seen + t and a step appends one entry per head. The memory grows
with length: ``state_size(seq_len)`` = 2 · d_model · seq_len floats per sequence, and the
default ``seq_len=1`` reports the per-token cost. Without rope the layer is position-free
(NoPE); a model may add learned absolute positions to its input instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn


@dataclass
class AttentionConfig:
    d_model: int = 64
    n_heads: int = 4
    rope: bool = True
    rope_base: float = 10000.0

    def __post_init__(self) -> None:
        if self.d_model < 1 or self.n_heads < 1 or self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a positive multiple of "
                             f"n_heads ({self.n_heads})")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads


class KVCache(NamedTuple):
    k: Tensor  # [B, H, T_seen, d]
    v: Tensor  # [B, H, T_seen, d]


@dataclass
class AttentionIntermediates:
    q: Tensor  # [B, T, H, d] (rotated)
    k: Tensor  # [B, T, H, d] the new keys (rotated)
    v: Tensor  # [B, T, H, d]
    attn: Tensor  # [B, H, T, T_seen + T] attention weights over the cache and the new steps


def rotate(x: Tensor, positions: Tensor, base: float) -> Tensor:
    """RoPE on x [B, H, T, d] at positions [T] (rotate-half pairing: i with i + ⌊d/2⌋; an
    odd head_dim leaves its last coordinate unrotated)."""
    half = x.shape[-1] // 2
    freq = base ** (-torch.arange(half, dtype=x.dtype, device=x.device) / half)
    angle = positions.to(x.dtype)[:, None] * freq  # [T, d/2]
    cos, sin = angle.cos(), angle.sin()
    x1, x2, rest = x[..., :half], x[..., half:2 * half], x[..., 2 * half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin, rest], dim=-1)


class AttentionLayer(nn.Module):
    def __init__(self, config: AttentionConfig):
        super().__init__()
        self.config = c = config
        self.qkv = nn.Linear(c.d_model, 3 * c.d_model, bias=False)
        self.out = nn.Linear(c.d_model, c.d_model, bias=False)

    def state_size(self, seq_len: int = 1) -> int:
        """Floats cached per sequence after ``seq_len`` tokens (keys and values)."""
        return 2 * self.config.d_model * seq_len

    def forward(self, x: Tensor, state: KVCache | None = None,
                return_intermediates: bool = False) -> tuple:
        """x: [B, T, d_model]; state: KVCache or None -> (y [B, T, d_model], KVCache)
        or, with ``return_intermediates``, (y, KVCache, AttentionIntermediates)."""
        c = self.config
        q, k, v = rearrange(self.qkv(x), "b t (n h d) -> n b h t d", n=3, h=c.n_heads)
        past = 0 if state is None else state.k.shape[2]
        T = x.shape[1]
        if c.rope:
            positions = torch.arange(past, past + T, device=x.device)
            q, k = rotate(q, positions, c.rope_base), rotate(k, positions, c.rope_base)
        new_k, new_v = k, v
        if state is not None:
            k, v = torch.cat([state.k, k], dim=2), torch.cat([state.v, v], dim=2)
        # query t sits at position past + t and sees keys 0 … past + t
        mask = None
        if past and T > 1:
            mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(past)
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                           is_causal=not past and T > 1)
        y = self.out(rearrange(o, "b h t d -> b t (h d)"))
        if not return_intermediates:
            return y, KVCache(k, v)
        scores = (q @ k.transpose(-1, -2)) * c.head_dim ** -0.5
        allowed = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(past)
        attn = scores.masked_fill(~allowed, float("-inf")).softmax(-1)
        inter = AttentionIntermediates(*(rearrange(a, "b h t d -> b t h d")
                                         for a in (q, new_k, new_v)), attn)
        return y, KVCache(k, v), inter
