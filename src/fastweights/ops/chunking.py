"""Helpers shared by the forms: compute dtype, step stacking, chunk layout and decays.

Layout of a chunked tensor: [B, T, H, *D] → [B, H, N, C, *D] with N = ⌈T / C⌉ chunks of C
steps (heads first, so every matmul is batched over (B, H, N)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def compute_dtype(x: Tensor) -> torch.dtype:
    """fp64 stays fp64; everything else is computed in fp32."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def initial(initial_state: Tensor | None, B: int, H: int, K: int, V: int, like: Tensor,
            dtype: torch.dtype) -> Tensor:
    """The initial state S₀ [B, H, K, V] in ``dtype``: zeros when none is given."""
    if initial_state is None:
        return like.new_zeros(B, H, K, V, dtype=dtype)
    return initial_state.to(dtype)


def stack_steps(outs: list[Tensor], B: int, H: int, V: int, like: Tensor) -> Tensor:
    """Per-step outputs [B, H, V] → [B, T, H, V]; an empty list (T = 0) gives [B, 0, H, V]."""
    return torch.stack(outs, dim=1) if outs else like.new_zeros(B, 0, H, V)


def to_chunks(x: Tensor, chunk_size: int) -> Tensor:
    """[B, T, H, *D] → [B, H, N, C, *D], zero-padding T up to N·C: one copy into a
    contiguous buffer, so that every batched matmul on it runs without another.

    Zero is the neutral value of every argument the chunk kernels take (q, k, v, β, g):
    a padded step writes and decays nothing, so the final state is unchanged.
    """
    B, T, H = x.shape[:3]
    n = -(-T // chunk_size)
    x = x.movedim(2, 1)  # [B, H, T, *D]
    if n * chunk_size > T:
        x = F.pad(x, (0, 0) * (x.dim() - 3) + (0, n * chunk_size - T))
    return x.contiguous().reshape(B, H, n, chunk_size, *x.shape[3:])


def from_chunks(x: Tensor, T: int) -> Tensor:
    """[B, H, N, C, *D] → [B, T, H, *D], dropping the padding."""
    B, H, n, c = x.shape[:4]
    return x.reshape(B, H, n * c, *x.shape[4:])[:, :, :T].movedim(1, 2)


def tril_(x: Tensor, diagonal: int = 0) -> Tensor:
    """Tril(x) in place for square [..., C, C] x, as a product with the 0/1 mask: under
    autograd its backward is the same masked product, several times faster on CPU than the
    out-of-place ``tril`` that ``Tensor.tril_``'s backward runs."""
    C = x.shape[-1]
    return x.mul_(torch.ones(C, C, dtype=x.dtype, device=x.device).tril(diagonal))


def matmul_add(x: Tensor, a: Tensor, b: Tensor, *, beta: float = 1.0,
               alpha: float = 1.0) -> Tensor:
    """β·x + α·(a @ b) for [..., m, n] operands with the same leading dimensions: one batched
    matmul that accumulates into x's copy (BLAS's C ← βC + αAB), no separate add or scale."""
    out = torch.baddbmm(x.flatten(0, -3), a.flatten(0, -3), b.flatten(0, -3), beta=beta,
                        alpha=alpha)
    return out.view(x.shape)


def segsum(g: Tensor) -> Tensor:
    """Pairwise log-decays [..., T] → [..., T, T]: out[t, s] = Σ_{s<r≤t} g_r for s ≤ t, else −∞.

    Each entry is summed from s, not taken as a difference of two long cumulative sums,
    so it keeps full precision however large the gates are (Dao & Gu 2024, the SSD listing).
    """
    T = g.shape[-1]
    ones = torch.ones(T, T, dtype=torch.bool, device=g.device)
    x = g[..., :, None].expand(*g.shape, T).masked_fill(~ones.tril(-1), 0)  # x[t, s] = g_t
    out = x.cumsum(dim=-2)
    return out.masked_fill(~ones.tril(), float("-inf"))


FACTORED_LOG_DECAY = 30.0


def factored_decays_ok(b: Tensor) -> bool:
    """Whether the decays of a chunk may be factored, exp(b_t − b_s) = e^{b_t} · e^{−b_s}.

    b: the log-decays from each chunk's start, [..., C, ·] (cumulative sums of g ≤ 0, most
    negative at the chunk end). Factoring is exact to rounding while every |b| ≤ 30 (e^{±30}
    stays finite, and the rounding of b costs at most 30·ε relative); past that, or where
    reading that bound would sync a device or break a ``torch.compile`` graph, the forms use
    the pairwise sums, which hold for any gate.
    """
    if b.device.type != "cpu" or torch.compiler.is_compiling() or b.numel() == 0:
        return False
    return bool(b[..., -1, :].min() >= -FACTORED_LOG_DECAY)


def chunk_decays(g: Tensor, dim: int = -1) -> tuple[Tensor, Tensor]:
    """Within-chunk log-decays from the chunked log-gates g (steps along ``dim``).

    Returns (b, c): b_t = Σ_{r≤t} g_r, the log-decay from the chunk start through step t, and
    c_s = Σ_{s<r≤C} g_r, from after step s to the chunk end. c is summed from the end, not
    taken as b_C − b_s: a large |g| early in the chunk (g = −1e4 at its first step) would
    leave b_C − b_s with the rounding error of 1e4 in fp32 (≈ 1e-3) instead of that of c.
    """
    b = g.cumsum(dim)
    # R_s = Σ_{r≥s} g_r summed from the end; c_s = R_{s+1}, shifted rather than R_s − g_s,
    # which would cancel a large g_s against itself
    R = g.flip(dim).cumsum(dim).flip(dim)
    zero = torch.zeros_like(R.narrow(dim, 0, 1))
    c = torch.cat([R.narrow(dim, 1, R.shape[dim] - 1), zero], dim)
    return b, c
