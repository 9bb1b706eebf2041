"""Causal softmax attention with a KV cache: the transformer baseline's sequence mixer.

Vaswani et al. 2017; rotary positions (RoPE) from Su et al. 2021. Per head (d = head_dim):

    [q_t; k_t; v_t] = W_qkv x_t
    q_t, k_t ← R(p_t) q_t, R(p_t) k_t     with rope=True: rotation of each pair (i, i + ⌊d/2⌋)
                                          by angle p_t · base^{−2i/d}, p_t the absolute position
    o_t = Σ_{s ≤ t} softmax_s(q_tᵀ k_s / √d) v_s        (over the cached and the new steps)
    y_t = W_o o_t

computed by ``torch.nn.functional.scaled_dot_product_attention``. The state is the KV cache
``{"k": [B, H, L, d], "v": [B, H, L, d], "valid": [B, L] bool}``: every key (after rotation)
and value seen so far and whether its step was real. Each call appends its T steps; a step
masked out (``mask`` False) is appended as invalid and never attended to, so a row's real
outputs and positions are those without its masked steps: p_t = the number of real steps
before t. The memory grows with length: ``state_size(seq_len)`` = 2 · d_model · seq_len
floats per sequence, and the default ``seq_len=1`` reports the per-token cost. Without rope
the layer is position-free (NoPE); a model may add learned absolute positions instead.
Outside autograd the cache is preallocated (``append``): a streaming step writes its key and
value in place instead of copying the whole cache.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from fastweights.layers.config import check_types


@dataclass
class AttentionConfig:
    d_model: int = 64
    n_heads: int = 4
    rope: bool = True
    rope_base: float = 10000.0

    def __post_init__(self) -> None:
        check_types(self)
        if self.d_model < 1 or self.n_heads < 1 or self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a positive multiple of "
                             f"n_heads ({self.n_heads})")
        if not self.rope_base > 0:
            raise ValueError(f"rope_base must be > 0, got {self.rope_base}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads


@dataclass
class AttentionIntermediates:
    q: Tensor  # [B, T, H, d] (rotated)
    k: Tensor  # [B, T, H, d] the new keys (rotated)
    v: Tensor  # [B, T, H, d]
    attn: Tensor  # [B, H, T, T_seen + T] attention weights over the cache and the new steps


def rotate(x: Tensor, positions: Tensor, base: float) -> Tensor:
    """RoPE on x [B, H, T, d] at positions [T] or [B, T] (rotate-half pairing: i with
    i + ⌊d/2⌋; an odd head_dim leaves its last coordinate unrotated)."""
    half = x.shape[-1] // 2
    freq = base ** (-torch.arange(half, dtype=x.dtype, device=x.device) / half)
    angle = positions.to(x.dtype)[..., None] * freq  # [T, d/2] or [B, T, d/2]
    if angle.dim() == 3:
        angle = angle[:, None]
    cos, sin = angle.cos(), angle.sin()
    x1, x2, rest = x[..., :half], x[..., half:2 * half], x[..., 2 * half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin, rest], dim=-1)


def append(cache: Tensor, new: Tensor, dim: int) -> Tensor:
    """``torch.cat([cache, new], dim)``, written in place into spare room where there is any.

    Outside autograd (inference, streaming) the cache is a view ``buffer[..., :L, ...]`` of a
    buffer with room to grow (twice the length at each reallocation), so a step writes its
    T entries after the L filled ones instead of copying all L + T. The buffer records how
    far it is filled, and only a cache that ends there writes in place: a state continued
    twice (branching) copies on its second continuation, so no state's values ever change.
    Under autograd it concatenates (writes into a saved buffer would invalidate backward).
    """
    past, T = cache.shape[dim], new.shape[dim]
    if torch.is_grad_enabled() and (cache.requires_grad or new.requires_grad):
        return torch.cat([cache, new], dim)
    base = cache._base
    room = (base is not None and getattr(base, "_filled", None) == past
            and base.shape[dim] >= past + T and base.dtype == new.dtype
            and base.device == new.device
            and base.shape[:dim] == new.shape[:dim] and base.shape[dim + 1:] == new.shape[dim + 1:]
            and cache.stride() == base.stride()
            and cache.storage_offset() == base.storage_offset()
            and not (base.is_inference() and not torch.is_inference_mode_enabled()))
    if not room:
        shape = list(new.shape)
        shape[dim] = 2 * (past + T)
        base = new.new_empty(shape)
        base.narrow(dim, 0, past).copy_(cache)
    base.narrow(dim, past, T).copy_(new)
    base._filled = past + T
    return base.narrow(dim, 0, past + T)


class AttentionLayer(nn.Module):
    #: state tensors whose length axis grows with the tokens seen
    growing = ("k", "v", "valid")

    def __init__(self, config: AttentionConfig):
        super().__init__()
        self.config = c = config
        self.qkv = nn.Linear(c.d_model, 3 * c.d_model, bias=False)
        self.out = nn.Linear(c.d_model, c.d_model, bias=False)

    def state_size(self, seq_len: int = 1) -> int:
        """Floats cached per sequence after ``seq_len`` tokens (keys and values)."""
        return 2 * self.config.d_model * seq_len

    def init_state(self, batch: int, device=None, dtype=None) -> dict[str, Tensor]:
        c = self.config
        kv = torch.zeros(batch, c.n_heads, 0, c.head_dim, device=device, dtype=dtype)
        return {"k": kv, "v": kv, "valid": torch.zeros(batch, 0, dtype=torch.bool,
                                                      device=device)}

    def forward(self, x: Tensor, state: dict[str, Tensor] | None = None, *,
                mask: Tensor | None = None, return_intermediates: bool = False) -> tuple:
        """x: [B, T, d_model]; state: the KV cache or None; mask [B, T] bool or None ->
        (y [B, T, d_model], state) or, with ``return_intermediates``, (y, state,
        AttentionIntermediates)."""
        c = self.config
        B, T = x.shape[:2]
        if state is None:
            state = self.init_state(B, x.device, x.dtype)
        q, k, v = rearrange(self.qkv(x), "b t (n h d) -> n b h t d", n=3, h=c.n_heads)
        past = state["k"].shape[2]
        real = torch.ones(B, T, dtype=torch.bool, device=x.device) if mask is None else mask
        if c.rope:
            seen = state["valid"].sum(1, keepdim=True)  # [B, 1]
            positions = seen + real.cumsum(1) - real.long()  # [B, T]
            q, k = rotate(q, positions, c.rope_base), rotate(k, positions, c.rope_base)
        new_k, new_v = k, v
        k, v = append(state["k"], k, 2), append(state["v"], v, 2)
        valid = append(state["valid"], real, 1)  # [B, L]
        # query t (cache index past + t) sees the valid keys up to itself, and always itself
        # (so a masked query attends to something and stays finite)
        index = torch.arange(past + T, device=x.device)
        query = past + torch.arange(T, device=x.device)[:, None]
        allowed = ((index <= query) & valid[:, None, None]) | (index == query)  # [B, 1, T, L]
        if mask is None and not past:
            o = F.scaled_dot_product_attention(q, k, v, is_causal=T > 1)
        else:
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        y = self.out(rearrange(o, "b h t d -> b t (h d)"))
        state = {"k": k, "v": v, "valid": valid}
        if not return_intermediates:
            return y, state
        scores = (q @ k.transpose(-1, -2)) * c.head_dim ** -0.5
        attn = scores.masked_fill(~allowed, float("-inf")).softmax(-1)
        inter = AttentionIntermediates(*(rearrange(a, "b h t d -> b t h d")
                                         for a in (q, new_k, new_v)), attn)
        return y, state, inter
