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
``parallel`` takes its decays from ``chunking.segsum`` (pairwise sums, exact for any T).
"""

from __future__ import annotations

import torch
from torch import Tensor

from fastweights.ops import chunking, dispatch
from fastweights.ops.backends import fla
from fastweights.ops.delta_rule import chunk_delta, delta_step, parallel_delta
from fastweights.ops.spec import (
    FAST_WEIGHTS,
    QUERY,
    SCALAR_GATE,
    UNIT_KEY,
    VALUE,
    WRITE_STRENGTH,
    Rule,
)


def gated_delta_rule_recurrent(q: Tensor, k: Tensor, v: Tensor, g: Tensor, beta: Tensor, *,
                               scale: float, initial_state: Tensor | None = None,
                               output_final_state: bool = False
                               ) -> tuple[Tensor, Tensor | None]:
    """The reference: a plain loop over t in fp32 (fp64 stays fp64), nothing in place.

    q, k: [B, T, H, K]; v: [B, T, H, V]; g, beta: [B, T, H]; initial_state: [B, H, K, V]
    or None. Returns o [B, T, H, V] in q's dtype and S_T [B, H, K, V] in the compute dtype.
    """
    B, T, H, K = q.shape
    V = v.shape[-1]
    dtype, ct = q.dtype, chunking.compute_dtype(q)
    S = chunking.initial(initial_state, B, H, K, V, q, ct)
    outs = []
    for q_t, k_t, v_t, g_t, b_t in zip(*(x.to(ct).unbind(1) for x in (q, k, v, g, beta)),
                                       strict=True):
        S = delta_step(g_t.exp()[..., None, None] * S, k_t, v_t, b_t)
        outs.append(scale * torch.einsum("bhk,bhkv->bhv", q_t, S))
    o = chunking.stack_steps(outs, B, H, V, q)
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


def gated_delta_rule(q: Tensor, k: Tensor, v: Tensor, g: Tensor, beta: Tensor, *,
                     scale: float | None = None, initial_state: Tensor | None = None,
                     output_final_state: bool = False, form: str = "auto",
                     chunk_size: int = 64, cu_seqlens: Tensor | None = None,
                     backend: str = "auto") -> tuple[Tensor, Tensor | None]:
    """Gated delta-rule fast weights; g [B, T, H] is a natural-log decay ≤ 0.
    Shapes and semantics: see the module docstring and ``fastweights.ops.spec``."""
    return dispatch.call(RULE, (q, k, v, g, beta), scale=scale, initial_state=initial_state,
                         output_final_state=output_final_state, form=form,
                         chunk_size=chunk_size, cu_seqlens=cu_seqlens, backend=backend)


RULE = Rule(
    name="gated_delta_rule",
    paper="Yang, Kautz & Hatamizadeh 2025 (Gated DeltaNet)",
    recurrence="S_t = α_t (I − β_t k_t k_tᵀ) S_{t-1} + β_t k_t v_tᵀ, α_t = exp(g_t)",
    args=(QUERY, UNIT_KEY, VALUE, SCALAR_GATE, WRITE_STRENGTH),
    state=(FAST_WEIGHTS,),
    forms={"recurrent": gated_delta_rule_recurrent, "parallel": gated_delta_rule_parallel,
           "chunk": gated_delta_rule_chunk},
    fn=gated_delta_rule,
    kernels={"fla": {
        "chunk": fla.Kernel("fla.ops.gated_delta_rule", "chunk_gated_delta_rule",
                            {"use_qk_l2norm_in_kernel": False}),
        "recurrent": fla.Kernel("fla.ops.gated_delta_rule", "fused_recurrent_gated_delta_rule",
                                {"use_qk_l2norm_in_kernel": False}),
    }},
)
