"""Feature maps φ and key/query normalisations applied before a fast-weight op.

    identity   φ(x) = x
    elu+1      φ(x) = elu(x) + 1                      (Katharopoulos et al. 2020)
    silu       φ(x) = x · σ(x)                        (DeltaNet as in Yang et al. 2024)
    relu       φ(x) = max(x, 0)
    dpfp       x̃ = relu([x; −x]) ∈ ℝ^{2d};  φ(x) = [x̃ ⊙ roll(x̃, 1); …; x̃ ⊙ roll(x̃, ν)] ∈ ℝ^{2dν}
               (deterministic parameter-free projection, Schlag et al. 2021)

    sumnorm    x / Σ_i x_i                            (needs non-negative features)
    l2         x / ‖x‖₂
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

EPS = 1e-6


def dpfp(x: Tensor, nu: int = 1) -> Tensor:
    """DPFP(ν) over the last dimension: [..., d] -> [..., 2·d·ν]."""
    x = F.relu(torch.cat([x, -x], dim=-1))
    return torch.cat([x * x.roll(shifts=i, dims=-1) for i in range(1, nu + 1)], dim=-1)


FEATURE_MAPS: dict[str, Callable[[Tensor], Tensor]] = {
    "identity": lambda x: x,
    "elu+1": lambda x: F.elu(x) + 1,
    "silu": F.silu,
    "relu": F.relu,
    "dpfp": dpfp,
}

NORMS: dict[str, Callable[[Tensor], Tensor]] = {
    "none": lambda x: x,
    "sumnorm": lambda x: x / (x.sum(dim=-1, keepdim=True) + EPS),
    "l2": lambda x: F.normalize(x, p=2, dim=-1, eps=EPS),
}


def feature_dim(name: str, dim: int, nu: int = 1) -> int:
    """The output dimension of feature map ``name`` on inputs of dimension ``dim``."""
    return 2 * dim * nu if name == "dpfp" else dim


def apply_feature_map(name: str, x: Tensor, nu: int = 1) -> Tensor:
    if name not in FEATURE_MAPS:
        raise ValueError(f"unknown feature_map {name!r}; available: {sorted(FEATURE_MAPS)}")
    return dpfp(x, nu) if name == "dpfp" else FEATURE_MAPS[name](x)


def apply_norm(name: str, x: Tensor) -> Tensor:
    if name not in NORMS:
        raise ValueError(f"unknown qk_norm {name!r}; available: {sorted(NORMS)}")
    return NORMS[name](x)
