"""The short causal convolution of the mixers (H3, Mamba, DeltaNet): depthwise over time,
width c, then SiLU, with the last c−1 inputs carried as state.

    y_t = SiLU(Σ_{j=0}^{c−1} w_j ⊙ u_{t−j} + b)        u_{t−j} from the cache for t−j < 0

State: ``cache`` [B, C, c−1], the last c−1 inputs (zeros at the start). The parameters are
those of a depthwise ``nn.Conv1d``; the computation runs channels last, as c shifted
multiply-adds on [B, T, C]. With ``mask`` [B, T]
only a row's real steps are convolved (gathered to the front in order, convolved after the
cache, scattered back): a masked step enters neither the cache nor any real output, so a row
with masked steps gives what it gives without them. Outputs at masked steps are unspecified.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ShortConv(nn.Conv1d):
    def __init__(self, channels: int, width: int):
        if width < 2:
            raise ValueError(f"the short convolution needs width >= 2, got {width}")
        super().__init__(channels, channels, width, groups=channels)

    def init_state(self, batch: int, device=None, dtype=None) -> Tensor:
        return torch.zeros(batch, self.in_channels, self.kernel_size[0] - 1, device=device,
                           dtype=dtype)

    def forward(self, u: Tensor, cache: Tensor, mask: Tensor | None = None
                ) -> tuple[Tensor, Tensor]:
        """u [B, T, C], cache [B, C, c−1], mask [B, T] or None -> (y [B, T, C], cache)."""
        if mask is not None:
            # real steps first (a stable sort), so each row's real inputs are contiguous
            order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)  # [B, T]
            u = u.gather(1, order[..., None].expand_as(u))
        # channels last throughout: c shifted multiply-adds on [B, T, C], which are cheaper
        # forward and backward on CPU than a depthwise convolution over transposed copies
        full = torch.cat([cache.mT.to(u.dtype), u], dim=1)  # [B, c−1+T, C]
        T, w = u.shape[1], cache.shape[-1]
        taps = self.weight[:, 0, :]  # [C, c]
        y = self.bias + full[:, :T] * taps[:, 0]
        for i in range(1, w + 1):
            y = y + full[:, i:i + T] * taps[:, i]
        y = F.silu(y)
        if mask is None:
            return y, full[:, full.shape[1] - w:].mT
        idx = mask.sum(1)[:, None, None] + torch.arange(w, device=u.device)  # [B, 1, w]
        out = torch.empty_like(y).scatter_(1, order[..., None].expand_as(y), y)
        return out, full.mT.gather(2, idx.expand(-1, full.shape[2], -1))
