"""The short causal convolution of the mixers (H3, Mamba, DeltaNet): depthwise over time,
width c, then SiLU, with the last c−1 inputs carried as state.

    y_t = SiLU(Σ_{j=0}^{c−1} w_j ⊙ u_{t−j} + b)        u_{t−j} from the cache for t−j < 0

State: ``cache`` [B, C, c−1], the last c−1 inputs (zeros at the start). The parameters are
those of a depthwise ``nn.Conv1d``; the computation runs channels last, as c shifted
multiply-adds on [B, T, C], with a hand-written backward (``_ShortConvFn``) that keeps only
the padded input and recomputes the pre-activation: autograd's own graph of the shifted
slices zero-filled and accumulated a [B, c−1+T, C] gradient per tap and cost as much as the
fast-weight op beside it. With ``mask`` [B, T] only a row's real steps
are convolved (gathered to the front in order, convolved after the cache, scattered back): a
masked step enters neither the cache nor any real output, so a row with masked steps gives
what it gives without them. Outputs at masked steps are unspecified.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable


def _pre_activation(full: Tensor, taps: Tensor, bias: Tensor, T: int) -> Tensor:
    """bias + Σ_i full[:, i:i+T] ⊙ taps[i], with full [B, c−1+T, C] and taps [c, C]
    contiguous (a strided tap vector makes each multiply-add 2–4× slower)."""
    pre = torch.addcmul(bias, full[:, :T], taps[0])
    for i in range(1, taps.shape[0]):
        pre.addcmul_(full[:, i:i + T], taps[i])
    return pre


class _ShortConvFn(torch.autograd.Function):
    """z = post(y), y = SiLU(pre), pre_t = b + Σ_i w_i ⊙ full_{t+i} (taps [c, C]); backward
    with ∂y from ``post``'s own graph (rebuilt from the recomputed y) and g = ∂y ⊙ SiLU'(pre):
    ∂full_{t+i} += w_i ⊙ g_t,  ∂w_i = Σ_{b,t} full_{t+i} ⊙ g_t,  ∂b = Σ_{b,t} g_t."""

    @staticmethod
    def forward(ctx, full: Tensor, taps: Tensor, bias: Tensor, T: int,
                post: Callable[[Tensor], tuple[Tensor, ...]] | None):
        ctx.save_for_backward(full, taps, bias)
        ctx.T, ctx.post = T, post
        y = F.silu(_pre_activation(full, taps, bias, T))
        return y if post is None else post(y)

    @staticmethod
    @once_differentiable
    def backward(ctx, *dz: Tensor):
        full, taps, bias = ctx.saved_tensors
        T = ctx.T
        # pre is recomputed (c multiply-adds) rather than saved: [B, T, C] less to keep
        pre = _pre_activation(full, taps, bias, T)
        dy = dz[0]
        if ctx.post is not None:
            with torch.enable_grad():
                y = F.silu(pre).requires_grad_()
                (dy,) = torch.autograd.grad(ctx.post(y), y, dz)  # unused outputs: zeros
        g = torch.ops.aten.silu_backward(dy, pre)
        d_full = torch.zeros_like(full)
        for i in range(taps.shape[0]):
            d_full[:, i:i + T].addcmul_(g, taps[i])
        d_taps, prod = torch.empty_like(taps), torch.empty_like(g)
        for i in range(taps.shape[0]):
            d_taps[i] = torch.mul(full[:, i:i + T], g, out=prod).sum((0, 1))
        return d_full, d_taps, g.sum((0, 1)), None, None


class ShortConv(nn.Conv1d):
    def __init__(self, channels: int, width: int):
        if width < 2:
            raise ValueError(f"the short convolution needs width >= 2, got {width}")
        super().__init__(channels, channels, width, groups=channels)

    def init_state(self, batch: int, device=None, dtype=None) -> Tensor:
        return torch.zeros(batch, self.in_channels, self.kernel_size[0] - 1, device=device,
                           dtype=dtype)

    def forward(self, u: Tensor, cache: Tensor, mask: Tensor | None = None,
                post: Callable[[Tensor], tuple[Tensor, ...]] | None = None) -> tuple:
        """u [B, T, C], cache [B, C, c−1], mask [B, T] or None -> (y [B, T, C], cache), or
        with ``post`` (a function of y without parameters, returning a tuple of tensors)
        (post(y), cache). Under autograd without a mask, post runs inside the convolution's
        backward-recomputing Function, so neither y nor post's intermediates are kept."""
        if mask is not None:
            # real steps first (a stable sort), so each row's real inputs are contiguous
            order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)  # [B, T]
            u = u.gather(1, order[..., None].expand_as(u))
        full = torch.cat([cache.mT.to(u.dtype), u], dim=1)  # [B, c−1+T, C]
        T, w = u.shape[1], cache.shape[-1]
        taps, bias = self.weight[:, 0, :].t().contiguous(), self.bias  # [c, C], [C]
        if torch.is_grad_enabled() and (full.requires_grad or taps.requires_grad):
            # post inside the Function; after it with a mask (post acts on the scattered
            # output) or while torch.compile traces (the backward's autograd.grad would break
            # the graph, and the compiler plans the memory itself)
            inside = mask is None and not torch.compiler.is_compiling()
            y = _ShortConvFn.apply(full, taps, bias, T, post if inside else None)
            post = None if inside else post
        else:
            y = F.silu(_pre_activation(full, taps, bias, T))
        if mask is None:
            cache = full[:, full.shape[1] - w:].mT
        else:
            idx = mask.sum(1)[:, None, None] + torch.arange(w, device=u.device)  # [B, 1, w]
            y = torch.empty_like(y).scatter_(1, order[..., None].expand_as(y), y)
            cache = full.mT.gather(2, idx.expand(-1, full.shape[2], -1))
        return (y if post is None else post(y)), cache
