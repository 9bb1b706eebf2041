"""Oja's rule: the normalised Hebbian update (Oja 1982), as a fast weight (Irie & Gershman
2025, the Hebbian family), with an optional forgetting gate.

    S_t = e^{g_t} S_{t−1} + β_t (k_t − S_{t−1} v_t) v_tᵀ         S ∈ ℝ^{K×V} per head
    o_t = scale · S_tᵀ q_t                                       (read after write)

In the fast-weight picture W = Sᵀ maps keys to values; with post-synaptic activity y = v_t
and input x = k_t this is ΔW = β y (x − Wᵀy)ᵀ: for one output unit Oja's rule
Δw = β y (x − y w) (Oja 1982), for several his subspace rule (Oja 1989). The Hebbian term
β k vᵀ is the sum rule's write; the correction −β S v vᵀ keeps the columns bounded (for
β small and ‖v‖ = 1 they tend to an orthonormal basis of the principal subspace of the
keys). g ≤ 0 is one log-decay per head ([B, T, H]) applied to the old state; g = None (in
the public function) is no decay. The correction reads the undecayed S_{t−1}, as the rule
is written.

| paper                          | argument         |
|--------------------------------|------------------|
| input x / output y             | k, v             |
| learning rate η                | beta [B, T, H]   |
| forgetting e^{g}               | g [B, T, H] ≤ 0  |
| synapses W = Sᵀ                | state [B,H,K,V]  |

Forms. Written keys w_t = β_t (k_t − S_{t−1} v_t) give S_t = e^{g_t} S_{t−1} + w_t v_tᵀ. In a
block of C steps from S₀ with b_t = Σ_{r≤t} g_r, Γ[t, s] = e^{b_t − b_s} (s ≤ t, else 0)
and Γ⁻[t, s] = e^{b_{t−1} − b_s} (s < t), D = diag(β):

    (I + D (V Vᵀ ⊙ Γ⁻)) [X | Y] = [D K | D e^{b_{t−1}} V]      one unit-triangular solve
    W  = X − Y S₀ᵀ
    O  = scale · (e^{b} Q S₀ + (Q Wᵀ ⊙ Γ) V)
    S_C = e^{b_C} S₀ + (e^{b_C − b} W)ᵀ V

All decays are pairwise sums of gates (``chunking.segsum``). ``chunk`` solves all blocks at
once and loops over blocks for W and S; ``parallel`` is one block of all T steps.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fastweights.ops import chunking, dispatch
from fastweights.ops.spec import (
    FAST_WEIGHTS,
    KEY,
    QUERY,
    SCALAR_GATE,
    WRITE_STRENGTH,
    Arg,
    Rule,
)


def oja_rule_recurrent(q: Tensor, k: Tensor, v: Tensor, beta: Tensor, g: Tensor, *,
                       scale: float, initial_state: Tensor | None = None,
                       output_final_state: bool = False) -> tuple[Tensor, Tensor | None]:
    """The reference: a plain loop over t in fp32 (fp64 stays fp64), nothing in place.

    q, k: [B, T, H, K]; v: [B, T, H, V]; beta, g: [B, T, H];
    initial_state: [B, H, K, V] or None. Returns o [B, T, H, V] in q's dtype and
    S_T [B, H, K, V] in the compute dtype (or None).
    """
    B, T, H, K = q.shape
    V = v.shape[-1]
    dtype, ct = q.dtype, chunking.compute_dtype(q)
    S = q.new_zeros(B, H, K, V, dtype=ct) if initial_state is None else initial_state.to(ct)
    outs = []
    for q_t, k_t, v_t, b_t, g_t in zip(*(x.to(ct).unbind(1) for x in (q, k, v, beta, g)),
                                       strict=True):
        w = b_t[..., None] * (k_t - torch.einsum("bhkv,bhv->bhk", S, v_t))
        S = g_t.exp()[..., None, None] * S + torch.einsum("bhk,bhv->bhkv", w, v_t)
        outs.append(scale * torch.einsum("bhk,bhkv->bhv", q_t, S))
    o = chunking.stack_steps(outs, B, H, V, v)
    return o.to(dtype), (S if output_final_state else None)


def oja_rule_chunk(q: Tensor, k: Tensor, v: Tensor, beta: Tensor, g: Tensor, *,
                   scale: float, initial_state: Tensor | None = None,
                   output_final_state: bool = False,
                   chunk_size: int = 64) -> tuple[Tensor, Tensor | None]:
    """Chunkwise form: same arguments and results as the reference."""
    B, T, H, K = q.shape
    V = v.shape[-1]
    dtype, ct = q.dtype, chunking.compute_dtype(q)
    S0 = q.new_zeros(B, H, K, V, dtype=ct) if initial_state is None else initial_state.to(ct)
    if T == 0:
        return v.new_zeros(B, 0, H, V), (S0 if output_final_state else None)
    C = max(1, min(chunk_size, T))
    qc, kc, vc = (chunking.to_chunks(x.to(ct), C) for x in (q, k, v))  # [B, H, N, C, ·]
    bc = chunking.to_chunks(beta.to(ct), C)[..., None]  # [B, H, N, C, 1]
    gc = chunking.to_chunks(g.to(ct), C)
    # a zero gate in front: seg[t + 1, s + 1] = Σ_{s<r≤t} g_r, seg[t + 1, 0] = b_t
    seg = chunking.segsum(torch.cat([torch.zeros_like(gc[..., :1]), gc], -1)).exp()
    gamma, gamma_prev = seg[..., 1:, 1:], seg[..., :-1, 1:]  # [B, H, N, C, C]
    from_start, from_start_prev = seg[..., 1:, :1], seg[..., :-1, :1]  # [B, H, N, C, 1]
    to_end = seg[..., -1, 1:, None]  # [B, H, N, C, 1]
    A = bc * (vc @ vc.mT) * gamma_prev
    XY = torch.linalg.solve_triangular(A, torch.cat([bc * kc, bc * from_start_prev * vc], -1),
                                       upper=False, unitriangular=True)
    X, Y = XY[..., :K], XY[..., K:]
    decay = from_start[..., -1:, :]  # [B, H, N, 1, 1]
    outs, S = [], S0
    for q_n, v_n, X_n, Y_n, gm_n, e_n, d_n, a_n in zip(
            qc.unbind(2), vc.unbind(2), X.unbind(2), Y.unbind(2), gamma.unbind(2),
            from_start.unbind(2), to_end.unbind(2), decay.unbind(2), strict=True):
        W = X_n - Y_n @ S.mT  # [B, H, C, K]
        outs.append(e_n * (q_n @ S) + ((q_n @ W.mT) * gm_n) @ v_n)
        S = a_n * S + (d_n * W).mT @ v_n
    o = scale * torch.stack(outs, dim=2)
    return chunking.from_chunks(o, T).to(dtype), (S if output_final_state else None)


def oja_rule_parallel(q: Tensor, k: Tensor, v: Tensor, beta: Tensor, g: Tensor, *,
                      scale: float, initial_state: Tensor | None = None,
                      output_final_state: bool = False) -> tuple[Tensor, Tensor | None]:
    """Quadratic form: the block equations once over all T steps."""
    return oja_rule_chunk(q, k, v, beta, g, scale=scale, initial_state=initial_state,
                          output_final_state=output_final_state, chunk_size=max(1, q.shape[1]))


def oja_rule(q: Tensor, k: Tensor, v: Tensor, beta: Tensor, g: Tensor | None = None, *,
             scale: float | None = None, initial_state: Tensor | None = None,
             output_final_state: bool = False, form: str = "auto", chunk_size: int = 64,
             cu_seqlens: Tensor | None = None,
             backend: str = "auto") -> tuple[Tensor, Tensor | None]:
    """Oja's-rule fast weights; beta [B, T, H]; g [B, T, H] a log-decay ≤ 0 (None: none).
    Shapes and semantics: see the module docstring and ``fastweights.ops.spec``."""
    g = torch.zeros_like(beta) if g is None and isinstance(beta, Tensor) else g
    return dispatch.call(RULE, (q, k, v, beta, g), scale=scale, initial_state=initial_state,
                         output_final_state=output_final_state, form=form,
                         chunk_size=chunk_size, cu_seqlens=cu_seqlens, backend=backend)


RULE = Rule(
    name="oja_rule",
    paper="Oja 1982 (the normalised Hebbian rule); Irie & Gershman 2025",
    recurrence="S_t = e^{g_t} S_{t-1} + β_t (k_t − S_{t-1} v_t) v_tᵀ",
    # β ‖v‖² < 2 keeps the correction I − β v vᵀ a contraction: the layers feed unit values
    args=(QUERY, KEY, Arg("v", ("B T H V",), "values: the post-synaptic activity y",
                          unit_norm=True), WRITE_STRENGTH, SCALAR_GATE),
    state=(FAST_WEIGHTS,),
    forms={"recurrent": oja_rule_recurrent, "parallel": oja_rule_parallel,
           "chunk": oja_rule_chunk},
    fn=oja_rule,
)
