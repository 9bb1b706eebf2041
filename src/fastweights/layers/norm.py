"""RMSNorm (Zhang & Sennrich 2019) that keeps only its input for backward.

    y = x · r ⊙ w,    r = (mean(x²) + ε)^(−1/2)     over the last dimension

The forward is ``torch.nn.functional.rms_norm`` (the values of ``nn.RMSNorm``, whose
parameters and state-dict keys this keeps). Under autograd ``nn.RMSNorm`` is a graph of
elementwise ops that saves two tensors of the input's size (x and x · r); this saves x alone
and recomputes r in a hand-written backward (``_RMSNormFn``), with x̂ = x · r and
ĝ = ∂y ⊙ w:

    ∂x = r · (ĝ − x̂ · mean(ĝ ⊙ x̂)),    ∂w = Σ_rows ∂y ⊙ x̂.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class _RMSNormFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor | None, eps: float) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.eps = eps
        return F.rms_norm(x, x.shape[-1:], weight, eps)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, weight = ctx.saved_tensors
        r = torch.rsqrt(x.square().mean(-1, keepdim=True) + ctx.eps)
        xhat = x * r
        g = grad if weight is None else grad * weight
        dx = r * (g - xhat * (g * xhat).mean(-1, keepdim=True))
        dw = None
        if weight is not None and ctx.needs_input_grad[1]:
            dw = (grad * xhat).reshape(-1, x.shape[-1]).sum(0)
        return dx, dw, None


class RMSNorm(nn.RMSNorm):
    """``nn.RMSNorm`` over the last dimension (one ``int`` size) with the lean backward."""

    def __init__(self, dim: int, eps: float | None = None, device=None, dtype=None):
        if not isinstance(dim, int):
            raise TypeError(f"RMSNorm normalises the last dimension: dim must be an int, "
                            f"got {dim!r}")
        super().__init__(dim, eps=eps, device=device, dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        eps = torch.finfo(x.dtype).eps if self.eps is None else self.eps
        if torch.is_autocast_enabled(x.device.type) or not torch.is_grad_enabled():
            return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)
        return _RMSNormFn.apply(x, self.weight, eps)
