"""Gated delta rule: Gated DeltaNet (Yang, Kautz & Hatamizadeh 2025) and, with one gate per
key, Kimi Delta Attention (KDA; Kimi Team 2025, Kimi Linear, eq. 1 of its §3).

    S_t = (I − β_t k_t k_tᵀ) Diag(α_t) S_{t-1} + β_t k_t v_tᵀ,   α_t = exp(g_t) ∈ (0, 1]
    o_t = scale · S_tᵀ q_t                                   (read after write)
                                                             S ∈ ℝ^{K×V} per head

g [B, T, H] is one decay per head (Diag(α_t) = α_t I, Gated DeltaNet, where the order of
decay and projection does not matter); g [B, T, H, K] decays row κ of S by α_tκ before the
delta step (KDA, fla's ``chunk_kda`` with the gate given in log space). The delta rule
(``delta_rule``) with a forgetting gate: g = 0 recovers it, β = 0 leaves a gated decay.

| paper                           | argument          |
|---------------------------------|-------------------|
| query / key / value             | q, k, v           |
| decay α = e^g                   | g [B, T, H] or [B, T, H, K], ≤ 0 |
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

With a per-key gate (KDA) let Γ_t = Σ_{r≤t} g_r per key (float64 inside the block) and
X·Y[t, s] = Σ_κ x_tκ y_sκ e^{Γ_tκ − Γ_sκ} (``dplr_delta_rule.decayed_scores``); then

    (I + StrictTril(D k·k)) U' = D V − D (e^{Γ} ⊙ K) S₀
    O   = scale · ((e^{Γ} ⊙ Q) S₀ + Tril(q·k) U')
    S_C = e^{Γ_C} ⊙ S₀ + (e^{Γ_C − Γ} ⊙ K)ᵀ U'

(``chunk_kda``; ``parallel`` is one block of all T steps).
"""

from __future__ import annotations

import torch
from torch import Tensor

from fastweights.ops import chunking, dispatch
from fastweights.ops.backends import fla
from fastweights.ops.delta_rule import chunk_delta, delta_step, parallel_delta
from fastweights.ops.dplr_delta_rule import decayed_scores
from fastweights.ops.spec import (
    FAST_WEIGHTS,
    LOG_GATE,
    QUERY,
    UNIT_KEY,
    VALUE,
    WRITE_STRENGTH,
    Arg,
    Rule,
)


def gated_delta_rule_recurrent(q: Tensor, k: Tensor, v: Tensor, g: Tensor, beta: Tensor, *,
                               scale: float, initial_state: Tensor | None = None,
                               output_final_state: bool = False
                               ) -> tuple[Tensor, Tensor | None]:
    """The reference: a plain loop over t in fp32 (fp64 stays fp64), nothing in place.

    q, k: [B, T, H, K]; v: [B, T, H, V]; g: [B, T, H] or [B, T, H, K]; beta: [B, T, H];
    initial_state: [B, H, K, V] or None. Returns o [B, T, H, V] in q's dtype and
    S_T [B, H, K, V] in the compute dtype.
    """
    B, T, H, K = q.shape
    V = v.shape[-1]
    dtype, ct = q.dtype, chunking.compute_dtype(q)
    S = chunking.initial(initial_state, B, H, K, V, q, ct)
    outs = []
    for q_t, k_t, v_t, g_t, b_t in zip(*(x.to(ct).unbind(1) for x in (q, k, v, g, beta)),
                                       strict=True):
        alpha = g_t.exp()[..., None] if g_t.dim() == 3 else g_t.exp()[..., None, None]
        S = delta_step(alpha * S, k_t, v_t, b_t)
        outs.append(scale * torch.einsum("bhk,bhkv->bhv", q_t, S))
    o = chunking.stack_steps(outs, B, H, V, q)
    return o.to(dtype), (S if output_final_state else None)


def gated_delta_rule_chunk(q: Tensor, k: Tensor, v: Tensor, g: Tensor, beta: Tensor, *,
                           scale: float, initial_state: Tensor | None = None,
                           output_final_state: bool = False,
                           chunk_size: int = 64) -> tuple[Tensor, Tensor | None]:
    """Chunkwise form (WY/UT with decays): same arguments and results as the reference."""
    if g.dim() == 4:
        return chunk_kda(q, k, v, g, beta, scale=scale, initial_state=initial_state,
                         output_final_state=output_final_state, chunk_size=chunk_size)
    return chunk_delta(q, k, v, beta, g, scale=scale, initial_state=initial_state,
                       output_final_state=output_final_state, chunk_size=chunk_size)


def gated_delta_rule_parallel(q: Tensor, k: Tensor, v: Tensor, g: Tensor, beta: Tensor, *,
                              scale: float, initial_state: Tensor | None = None,
                              output_final_state: bool = False
                              ) -> tuple[Tensor, Tensor | None]:
    """Quadratic form: the block equations once over the whole sequence."""
    if g.dim() == 4:
        return chunk_kda(q, k, v, g, beta, scale=scale, initial_state=initial_state,
                         output_final_state=output_final_state, chunk_size=max(1, q.shape[1]))
    return parallel_delta(q, k, v, beta, g, scale=scale, initial_state=initial_state,
                          output_final_state=output_final_state)


def chunk_kda(q: Tensor, k: Tensor, v: Tensor, g: Tensor, beta: Tensor, *, scale: float,
              initial_state: Tensor | None, output_final_state: bool,
              chunk_size: int) -> tuple[Tensor, Tensor | None]:
    """The per-key (KDA) chunk kernel; equations in the module docstring."""
    B, T, H, K = q.shape
    V = v.shape[-1]
    dtype, ct = q.dtype, chunking.compute_dtype(q)
    S0 = chunking.initial(initial_state, B, H, K, V, q, ct)
    C = max(1, min(chunk_size, T))
    qc, kc, vc = (chunking.to_chunks(x.to(ct), C) for x in (q, k, v))  # [B, H, N, C, ·]
    bc = chunking.to_chunks(beta.to(ct), C)[..., None]  # [B, H, N, C, 1]
    G = chunking.to_chunks(g.double(), C).cumsum(-2)  # [B, H, N, C, K], float64
    (A_kk,) = decayed_scores(kc, kc[None], G, G, strict=True)
    (A_qk,) = decayed_scores(qc, kc[None], G, G, strict=False)
    last = G[..., -1:, :]
    k_end = (kc * (last - G).exp().to(ct)).mT  # [B, H, N, K, C]
    decay = last.exp().mT.to(ct)  # [B, H, N, K, 1]
    eG = G.exp().to(ct)
    WU = torch.linalg.solve_triangular(bc * A_kk, torch.cat([bc * kc * eG, bc * vc], -1),
                                       upper=False, unitriangular=True)
    W, U = WU[..., :K], WU[..., K:]
    outs, S = [], S0
    for q_n, Aqk_n, W_n, U_n, k_n, a_n in zip(
            *(x.unbind(2) for x in (qc * eG, A_qk, W, U, k_end, decay)), strict=True):
        u = U_n - W_n @ S  # [B, H, C, V]
        outs.append(q_n @ S + Aqk_n @ u)
        S = a_n * S + k_n @ u
    o = scale * torch.stack(outs, dim=2)
    return chunking.from_chunks(o, T).to(dtype), (S if output_final_state else None)


def gated_delta_rule(q: Tensor, k: Tensor, v: Tensor, g: Tensor, beta: Tensor, *,
                     scale: float | None = None, initial_state: Tensor | None = None,
                     output_final_state: bool = False, form: str = "auto",
                     chunk_size: int = 64, cu_seqlens: Tensor | None = None,
                     backend: str = "auto") -> tuple[Tensor, Tensor | None]:
    """Gated delta-rule fast weights; g [B, T, H] (Gated DeltaNet) or [B, T, H, K] (KDA)
    is a natural-log decay ≤ 0.
    Shapes and semantics: see the module docstring and ``fastweights.ops.spec``."""
    return dispatch.call(RULE, (q, k, v, g, beta), scale=scale, initial_state=initial_state,
                         output_final_state=output_final_state, form=form,
                         chunk_size=chunk_size, cu_seqlens=cu_seqlens, backend=backend)


RULE = Rule(
    name="gated_delta_rule",
    paper="Yang, Kautz & Hatamizadeh 2025 (Gated DeltaNet); Kimi Team 2025 (KDA, per-key g)",
    recurrence="S_t = (I − β_t k_t k_tᵀ) Diag(α_t) S_{t-1} + β_t k_t v_tᵀ, α_t = exp(g_t)",
    args=(QUERY, UNIT_KEY, VALUE,
          Arg("g", ("B T H", "B T H K"), "log-decay g, α_t = exp(g_t): one per head (Gated "
              "DeltaNet) or per key (KDA)", domain=LOG_GATE, kind="gate"),
          WRITE_STRENGTH),
    state=(FAST_WEIGHTS,),
    forms={"recurrent": gated_delta_rule_recurrent, "parallel": gated_delta_rule_parallel,
           "chunk": gated_delta_rule_chunk},
    fn=gated_delta_rule,
    kernels={"fla": {
        "chunk": fla.ByRank(3, {
            3: fla.Kernel("fla.ops.gated_delta_rule", "chunk_gated_delta_rule",
                          {"use_qk_l2norm_in_kernel": False}),
            4: fla.Kernel("fla.ops.kda", "chunk_kda", {"use_qk_l2norm_in_kernel": False})}),
        "recurrent": fla.ByRank(3, {
            3: fla.Kernel("fla.ops.gated_delta_rule", "fused_recurrent_gated_delta_rule",
                          {"use_qk_l2norm_in_kernel": False}),
            4: fla.Kernel("fla.ops.kda", "fused_recurrent_kda",
                          {"use_qk_l2norm_in_kernel": False})}),
    }},
)
