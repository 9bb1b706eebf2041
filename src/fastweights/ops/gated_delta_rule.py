"""Gated delta rule: Gated DeltaNet (Yang, Kautz & Hatamizadeh 2025).

    S_t = α_t (I − β_t k_t k_tᵀ) S_{t-1} + β_t k_t v_tᵀ,   α_t = exp(g_t) ∈ (0, 1]
    o_t = scale · S_tᵀ q_t                                   (read after write)
                                                             S ∈ ℝ^{K×V} per head

The delta rule (``delta_rule``) with a forgetting gate: g = 0 recovers it, β = 0 leaves a
scalar-gated decay (Mamba2-style).

| paper                           | argument          |
|---------------------------------|-------------------|
| query / key / value             | q, k, v           |
| decay α = e^g                   | g [B, T, H], ≤ 0  |
| learning rate / write gate β    | beta [B, T, H]    |
| fast weight W = Sᵀ              | state [B,H,K,V]   |

Forms (derivation: ``docs/derivations/delta_rule.md``). Written values u_t = β_t(v_t −
α_t S_{t-1}ᵀ k_t) give S_t = α_t S_{t-1} + k_t u_tᵀ. In a block of C steps from S₀ with
b_t = Σ_{r≤t} g_r (restarted at each chunk), Γ[t, s] = exp(b_t − b_s) for s ≤ t else 0,
D = diag(β):

    A = StrictTril(D (K Kᵀ ⊙ Γ))
    (I + A) [W | U] = [D e^b K | D V]             one unit-triangular solve
    U' = U − W S₀
    O  = scale · ((e^b ⊙ Q) S₀ + (Tril(Q Kᵀ) ⊙ Γ) U')
    S_C = e^{b_C} S₀ + (e^{b_C − b} ⊙ K)ᵀ U'

The kernels are ``delta_rule.chunk_delta`` / ``delta_rule.parallel_delta`` with the gate;
``parallel`` takes its decays from ``contract.segsum`` (pairwise sums, exact for any T).
"""

from __future__ import annotations

import torch
from torch import Tensor

from fastweights.ops import contract
from fastweights.ops.delta_rule import chunk_delta, parallel_delta


def gated_delta_rule_recurrent(q: Tensor, k: Tensor, v: Tensor, g: Tensor, beta: Tensor, *,
                               scale: float, initial_state: Tensor | None = None,
                               output_final_state: bool = False
                               ) -> tuple[Tensor, Tensor | None]:
    """The reference: a plain loop over t in fp32 (fp64 stays fp64), nothing in place.

    q, k: [B, T, H, K]; v: [B, T, H, V]; g, beta: [B, T, H]; initial_state: [B, H, K, V]
    or None. Returns o [B, T, H, V] in q's dtype and S_T [B, H, K, V] in the compute dtype.
    """
    B, T, H, K = q.shape
    dtype, ct = q.dtype, contract.compute_dtype(q)
    q, k, v, g, beta = q.to(ct), k.to(ct), v.to(ct), g.to(ct), beta.to(ct)
    alpha = g.exp()
    S = (q.new_zeros(B, H, K, v.shape[-1]) if initial_state is None
         else initial_state.to(ct))
    outs = []
    for t in range(T):
        S = alpha[:, t, :, None, None] * S
        v_old = torch.einsum("bhk,bhkv->bhv", k[:, t], S)
        delta = beta[:, t, :, None] * (v[:, t] - v_old)
        S = S + torch.einsum("bhk,bhv->bhkv", k[:, t], delta)
        outs.append(scale * torch.einsum("bhk,bhkv->bhv", q[:, t], S))
    o = torch.stack(outs, dim=1) if outs else v.new_zeros(B, 0, H, v.shape[-1])
    return o.to(dtype), (S if output_final_state else None)


def gated_delta_rule_chunk(q: Tensor, k: Tensor, v: Tensor, g: Tensor, beta: Tensor, *,
                           scale: float, initial_state: Tensor | None = None,
                           output_final_state: bool = False,
                           chunk_size: int = 64) -> tuple[Tensor, Tensor | None]:
    """Chunkwise form (WY/UT with decays): same arguments and results as the reference."""
    return chunk_delta(q, k, v, beta, g, scale=scale, initial_state=initial_state,
                       output_final_state=output_final_state, chunk_size=chunk_size)


def gated_delta_rule_parallel(q: Tensor, k: Tensor, v: Tensor, g: Tensor, beta: Tensor, *,
                              scale: float, initial_state: Tensor | None = None,
                              output_final_state: bool = False
                              ) -> tuple[Tensor, Tensor | None]:
    """Quadratic form: the block equations once over the whole sequence."""
    return parallel_delta(q, k, v, beta, g, scale=scale, initial_state=initial_state,
                          output_final_state=output_final_state)


FORMS = {"recurrent": gated_delta_rule_recurrent, "parallel": gated_delta_rule_parallel,
         "chunk": gated_delta_rule_chunk}


def gated_delta_rule(q: Tensor, k: Tensor, v: Tensor, g: Tensor, beta: Tensor, *,
                     scale: float | None = None, initial_state: Tensor | None = None,
                     output_final_state: bool = False, form: str = "auto",
                     chunk_size: int = 64,
                     cu_seqlens: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
    """Gated delta-rule fast weights; g [B, T, H] is a natural-log decay ≤ 0.
    Shapes and semantics: see the module docstring and ``fastweights.ops.contract``."""
    B, T, H, K, V = contract.check_qkv(q, k, v)
    contract.check_log_gate("g", g, q, per_key=False)
    contract.check_per_step("beta", beta, q)
    contract.check_chunk_size(chunk_size)
    n = contract.check_cu_seqlens(cu_seqlens, B, T)
    contract.check_state(initial_state, n, H, K, V, q)
    return contract.dispatch(FORMS, form, (q, k, v, g, beta), T=T, scale=K**-0.5
                             if scale is None else scale, chunk_size=chunk_size,
                             initial_state=initial_state,
                             output_final_state=output_final_state, cu_seqlens=cu_seqlens)
