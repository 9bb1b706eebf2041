"""Delta product rule: DeltaProduct (Siems et al. 2025).

Each token takes n_h delta-rule steps, each with its own key, value and β, and is read after
the last one: the transition is a product of n_h generalised Householder matrices.

    S_{t,0} = S_{t-1}
    S_{t,j} = (I − β_{t,j} k_{t,j} k_{t,j}ᵀ) S_{t,j-1} + β_{t,j} k_{t,j} v_{t,j}ᵀ,  j = 1..n_h
    S_t = S_{t,n_h},   o_t = scale · S_tᵀ q_t                     S ∈ ℝ^{K×V} per head

| paper                          | argument                 |
|--------------------------------|--------------------------|
| query                          | q [B, T, H, K]           |
| keys / values of the n_h steps | k [B, T, n_h, H, K], v [B, T, n_h, H, V] |
| step sizes β_{t,j}             | beta [B, T, n_h, H]      |
| fast weight W = Sᵀ             | state [B, H, K, V]       |

``chunk`` unrolls the n_h steps into a delta-rule sequence of length T·n_h, with the query
at the last step of each token and zero queries elsewhere, and runs ``delta_rule``'s chunk
kernel on it (equations in ``delta_rule``); ``chunk_size`` counts those unrolled steps.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fastweights.ops import contract
from fastweights.ops.delta_rule import chunk_delta


def delta_product_rule_recurrent(q: Tensor, k: Tensor, v: Tensor, beta: Tensor, *,
                                 scale: float, initial_state: Tensor | None = None,
                                 output_final_state: bool = False
                                 ) -> tuple[Tensor, Tensor | None]:
    """The reference: a plain loop over t and j in fp32 (fp64 stays fp64), nothing in place.

    q: [B, T, H, K]; k: [B, T, n_h, H, K]; v: [B, T, n_h, H, V]; beta: [B, T, n_h, H];
    initial_state: [B, H, K, V] or None. Returns o [B, T, H, V] in q's dtype and
    S_T [B, H, K, V] in the compute dtype (or None).
    """
    B, T, H, K = q.shape
    dtype, ct = q.dtype, contract.compute_dtype(q)
    q, k, v, beta = q.to(ct), k.to(ct), v.to(ct), beta.to(ct)
    S = (q.new_zeros(B, H, K, v.shape[-1]) if initial_state is None
         else initial_state.to(ct))
    outs = []
    for t in range(T):
        for j in range(k.shape[2]):
            v_old = torch.einsum("bhk,bhkv->bhv", k[:, t, j], S)
            delta = beta[:, t, j, :, None] * (v[:, t, j] - v_old)
            S = S + torch.einsum("bhk,bhv->bhkv", k[:, t, j], delta)
        outs.append(scale * torch.einsum("bhk,bhkv->bhv", q[:, t], S))
    o = torch.stack(outs, dim=1) if outs else v.new_zeros(B, 0, H, v.shape[-1])
    return o.to(dtype), (S if output_final_state else None)


def delta_product_rule_chunk(q: Tensor, k: Tensor, v: Tensor, beta: Tensor, *, scale: float,
                             initial_state: Tensor | None = None,
                             output_final_state: bool = False,
                             chunk_size: int = 64) -> tuple[Tensor, Tensor | None]:
    """Chunkwise form over the unrolled T·n_h steps: same arguments and results as the
    reference."""
    B, T, n_h, H, K = k.shape
    V = v.shape[-1]
    q_steps = torch.cat([q.new_zeros(B, T, n_h - 1, H, K), q[:, :, None]], dim=2)
    o, S = chunk_delta(q_steps.reshape(B, T * n_h, H, K), k.reshape(B, T * n_h, H, K),
                       v.reshape(B, T * n_h, H, V), beta.reshape(B, T * n_h, H), None,
                       scale=scale, initial_state=initial_state,
                       output_final_state=output_final_state, chunk_size=chunk_size)
    return o.reshape(B, T, n_h, H, V)[:, :, -1], S


FORMS = {"recurrent": delta_product_rule_recurrent, "chunk": delta_product_rule_chunk}


def _check_inputs(q: Tensor, k: Tensor, v: Tensor, beta: Tensor) -> tuple[int, ...]:
    """Validate q [B, T, H, K], k [B, T, n_h, H, K], v [B, T, n_h, H, V], beta [B, T, n_h, H]."""
    for name, x, rank, dims in (("k", k, 5, "[B, T, n_h, H, K]"),
                                ("v", v, 5, "[B, T, n_h, H, V]"),
                                ("beta", beta, 4, "[B, T, n_h, H]")):
        if not isinstance(x, Tensor) or x.dim() != rank:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{name} must have shape {dims} ({rank} dims), got {got}")
    B, T, n_h, H, K = k.shape
    if n_h < 1:
        raise ValueError(f"k must have n_h >= 1 Householder steps, got k {tuple(k.shape)}")
    if tuple(v.shape[:4]) != (B, T, n_h, H):
        raise ValueError(f"v must share B, T, n_h, H with k: k {tuple(k.shape)}, "
                         f"v {tuple(v.shape)}")
    if tuple(beta.shape) != (B, T, n_h, H):
        raise ValueError(f"beta must have shape {(B, T, n_h, H)} (B, T, n_h, H) to match "
                         f"k {tuple(k.shape)}, got {tuple(beta.shape)}")
    # q, and the first step's k and v, carry the generic checks (rank, dtype, device, finite)
    contract.check_qkv(q, k[:, :, 0], v[:, :, 0])
    contract.check_per_step("beta", beta[:, :, 0], q)
    for name, x in (("k", k), ("v", v), ("beta", beta)):
        contract.check_finite(name, x)
    return B, T, n_h, H, K, v.shape[-1]


def delta_product_rule(q: Tensor, k: Tensor, v: Tensor, beta: Tensor, *,
                       scale: float | None = None, initial_state: Tensor | None = None,
                       output_final_state: bool = False, form: str = "auto",
                       chunk_size: int = 64,
                       cu_seqlens: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
    """DeltaProduct fast weights: n_h delta steps per token (k, v: [B, T, n_h, H, ·],
    beta: [B, T, n_h, H]). Semantics: see the module docstring and
    ``fastweights.ops.contract``."""
    B, T, n_h, H, K, V = _check_inputs(q, k, v, beta)
    contract.check_chunk_size(chunk_size)
    n = contract.check_cu_seqlens(cu_seqlens, B, T)
    contract.check_state(initial_state, n, H, K, V, q)
    # auto: the recurrent form for a single token (n_h steps), the chunk form otherwise
    return contract.dispatch(FORMS, form, (q, k, v, beta), T=T, scale=K**-0.5 if scale is None
                             else scale, chunk_size=chunk_size, initial_state=initial_state,
                             output_final_state=output_final_state, cu_seqlens=cu_seqlens)
