"""Feature maps φ and key/query normalisations applied before a fast-weight op.

    identity   φ(x) = x
    elu+1      φ(x) = elu(x) + 1                      (Katharopoulos et al. 2020)
    silu       φ(x) = x · σ(x)                        (DeltaNet as in Yang et al. 2024)
    relu       φ(x) = max(x, 0)
    dpfp       x̃ = relu([x; −x]) ∈ ℝ^{2d};  φ(x) = [x̃ ⊙ roll(x̃, 1); …; x̃ ⊙ roll(x̃, ν)] ∈ ℝ^{2dν}
               (deterministic parameter-free projection, Schlag et al. 2021)
    favor+     x̂ = d^{−1/4} x;  φ(x) = exp(Ω x̂ − ‖x̂‖²/2) / √m ∈ ℝ^m,  Ω ∈ ℝ^{m×d}
               (positive orthogonal random features, Choromanski et al. 2021), so that
               E_Ω[φ(q)ᵀφ(k)] = exp(qᵀk / √d), the softmax kernel. The rows of Ω come in
               blocks of d orthogonal directions with χ_d-distributed lengths, each row
               marginally N(0, I_d) (``draw_favor``); no data-dependent stabiliser, so a
               sequence streamed in pieces gets exactly the features of the whole.

    sumnorm    x / Σ_i x_i                            (needs non-negative features)
    l2         x / ‖x‖₂
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

EPS = 1e-6


def dpfp(x: Tensor, nu: int = 1) -> Tensor:
    """DPFP(ν) over the last dimension: [..., d] -> [..., 2·d·ν]."""
    x = F.relu(torch.cat([x, -x], dim=-1))
    return torch.cat([x * x.roll(shifts=i, dims=-1) for i in range(1, nu + 1)], dim=-1)


def draw_favor(m: int, d: int, generator: torch.Generator | None = None,
               dtype: torch.dtype = torch.float32, device: torch.device | None = None
               ) -> Tensor:
    """Ω [m, d] for FAVOR+: ⌈m/d⌉ blocks of orthonormal rows (a Haar-random orthogonal
    matrix each), each row rescaled to the length of an independent N(0, I_d) sample."""
    blocks = []
    for _ in range(math.ceil(m / d)):
        g = torch.randn(d, d, generator=generator, dtype=torch.float64, device=device)
        Q, R = torch.linalg.qr(g)
        # signs of diag(R) make Q Haar-distributed (raw QR biases each column's sign)
        blocks.append((Q * torch.sign(torch.diagonal(R))).T)
    omega = torch.cat(blocks)[:m]
    lengths = torch.randn(m, d, generator=generator, dtype=torch.float64,
                          device=device).norm(dim=-1, keepdim=True)
    return (omega * lengths).to(dtype)


def favor(x: Tensor, omega: Tensor) -> Tensor:
    """FAVOR+ positive random features: x [..., d], Ω [m, d] -> [..., m]."""
    x = x * x.shape[-1] ** -0.25
    proj = x @ omega.to(x.dtype).T
    return torch.exp(proj - x.square().sum(-1, keepdim=True) / 2) / math.sqrt(omega.shape[0])


FEATURE_MAPS: dict[str, Callable[..., Tensor]] = {
    "identity": lambda x: x,
    "elu+1": lambda x: F.elu(x) + 1,
    "silu": F.silu,
    "relu": F.relu,
    "dpfp": dpfp,
    "favor+": favor,
}

NORMS: dict[str, Callable[[Tensor], Tensor]] = {
    "none": lambda x: x,
    "sumnorm": lambda x: x / (x.sum(dim=-1, keepdim=True) + EPS),
    "l2": lambda x: F.normalize(x, p=2, dim=-1, eps=EPS),
}


def feature_dim(name: str, dim: int, nu: int = 1, m: int | None = None) -> int:
    """The output dimension of feature map ``name`` on inputs of dimension ``dim``
    (``nu`` for DPFP, ``m`` random features for FAVOR+)."""
    if name == "dpfp":
        return 2 * dim * nu
    if name == "favor+":
        if m is None:
            raise ValueError("feature_dim('favor+', ...) needs m, the number of features")
        return m
    return dim


def apply_feature_map(name: str, x: Tensor, nu: int = 1, omega: Tensor | None = None
                      ) -> Tensor:
    """φ(x) over the last dimension; ``nu`` for DPFP, ``omega`` [m, d] for FAVOR+."""
    if name not in FEATURE_MAPS:
        raise ValueError(f"unknown feature_map {name!r}; available: {sorted(FEATURE_MAPS)}")
    if name == "dpfp":
        return dpfp(x, nu)
    if name == "favor+":
        if omega is None:
            raise ValueError("feature_map 'favor+' needs omega, the [m, d] random projection "
                             "(featuremaps.draw_favor)")
        return favor(x, omega)
    return FEATURE_MAPS[name](x)


def apply_norm(name: str, x: Tensor) -> Tensor:
    if name not in NORMS:
        raise ValueError(f"unknown qk_norm {name!r}; available: {sorted(NORMS)}")
    return NORMS[name](x)
