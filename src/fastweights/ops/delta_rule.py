"""Delta rule: DeltaNet (Schlag, Irie & Schmidhuber 2021; Yang et al. 2024).

    S_t = S_{t-1} + β_t k_t (v_t − S_{t-1}ᵀ k_t)ᵀ
        = (I − β_t k_t k_tᵀ) S_{t-1} + β_t k_t v_tᵀ      S ∈ ℝ^{K×V} per head
    o_t = scale · S_tᵀ q_t                               (read after write)

One step of gradient descent with learning rate β_t on ½‖v_t − S_{t-1}ᵀk_t‖². With ‖k_t‖ = 1
the transition I − β_t k_t k_tᵀ has eigenvalues 1 and 1 − β_t, so β ∈ (0, 2) keeps it a
contraction with a negative eigenvalue when β > 1 (Grazzi et al. 2025).

| paper                       | argument          |
|-----------------------------|-------------------|
| query / key / value         | q, k, v           |
| learning rate / write gate β | beta [B, T, H]   |
| fast weight W = Sᵀ          | state [B,H,K,V]   |

Forms (derivation: ``docs/derivations/delta_rule.md``). Write u_t = β_t (v_t − S_{t-1}ᵀk_t)
for the value actually written, so S_t = S_{t-1} + k_t u_tᵀ. For a block of C steps that
starts from state S₀, with rows K, V, Q ∈ ℝ^{C×·} and D = diag(β):

    A = StrictTril(D K Kᵀ)                       [C, C]
    [W | U] = T_c [D K | D V],  T_c = (I + A)⁻¹  a unit-triangular solve
    U' = U − W S₀                                the written values u_t, stacked
    O  = scale · (Q S₀ + Tril(Q Kᵀ) U')
    S_C = S₀ + Kᵀ U'

``chunk`` applies this to chunks of ``chunk_size`` steps: the solves and products of all
chunks are batched, and only U' = U − W S and S ← S + Kᵀ U' run in a loop over chunks.
It forms T_c explicitly and has a hand-written, matmul-only backward (``_DeltaChunk``)
that keeps one state per chunk. ``parallel`` applies the block equations once to the whole
sequence (C = T, quadratic in T), solving (I + A)[W | U] = [D K | D V] directly. The gated
delta rule reuses both with decays (``gated_delta_rule``), the backward included.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fastweights.ops import chunking, dispatch
from fastweights.ops.backends import fla
from fastweights.ops.spec import FAST_WEIGHTS, QUERY, UNIT_KEY, VALUE, WRITE_STRENGTH, Rule


def delta_step(S: Tensor, k: Tensor, v: Tensor, beta: Tensor) -> Tensor:
    """One delta-rule write: S ← S + β k (v − Sᵀk)ᵀ = (I − β k kᵀ) S + β k vᵀ.

    S: [..., K, V]; k: [..., K]; v: [..., V]; beta: [...]. The one copy of the update that
    the ops' references, DeltaProduct, the recurrent FWP cells and the SRWM share.
    """
    v_old = torch.einsum("...k,...kv->...v", k, S)
    return S + torch.einsum("...k,...v->...kv", k, beta.unsqueeze(-1) * (v - v_old))


def delta_rule_recurrent(q: Tensor, k: Tensor, v: Tensor, beta: Tensor, *, scale: float,
                         initial_state: Tensor | None = None,
                         output_final_state: bool = False) -> tuple[Tensor, Tensor | None]:
    """The reference: a plain loop over t in fp32 (fp64 stays fp64), nothing in place.

    q, k: [B, T, H, K]; v: [B, T, H, V]; beta: [B, T, H]; initial_state: [B, H, K, V] or None.
    Returns o [B, T, H, V] in q's dtype and S_T [B, H, K, V] in the compute dtype (or None).
    The steps are walked with ``unbind``, so the backward is linear in T.
    """
    B, T, H, K = q.shape
    V = v.shape[-1]
    dtype, ct = q.dtype, chunking.compute_dtype(q)
    S = chunking.initial(initial_state, B, H, K, V, q, ct)
    outs = []
    for q_t, k_t, v_t, b_t in zip(*(x.to(ct).unbind(1) for x in (q, k, v, beta)), strict=True):
        S = delta_step(S, k_t, v_t, b_t)
        outs.append(scale * torch.einsum("bhk,bhkv->bhv", q_t, S))
    o = chunking.stack_steps(outs, B, H, V, q)
    return o.to(dtype), (S if output_final_state else None)


def delta_rule_chunk(q: Tensor, k: Tensor, v: Tensor, beta: Tensor, *, scale: float,
                     initial_state: Tensor | None = None, output_final_state: bool = False,
                     chunk_size: int = 64) -> tuple[Tensor, Tensor | None]:
    """Chunkwise-parallel form (WY/UT): same arguments and results as the reference."""
    return chunk_delta(q, k, v, beta, None, scale=scale, initial_state=initial_state,
                       output_final_state=output_final_state, chunk_size=chunk_size)


def delta_rule_parallel(q: Tensor, k: Tensor, v: Tensor, beta: Tensor, *, scale: float,
                        initial_state: Tensor | None = None,
                        output_final_state: bool = False) -> tuple[Tensor, Tensor | None]:
    """Quadratic form: the block equations applied once to the whole sequence."""
    return parallel_delta(q, k, v, beta, None, scale=scale, initial_state=initial_state,
                          output_final_state=output_final_state)


def chunk_delta(q: Tensor, k: Tensor, v: Tensor, beta: Tensor, g: Tensor | None, *,
                scale: float, initial_state: Tensor | None, output_final_state: bool,
                chunk_size: int) -> tuple[Tensor, Tensor | None]:
    """The chunk kernel shared with ``gated_delta_rule`` (g: scalar log-gate [B, T, H] or None).

    With g, b_t = Σ_{r≤t} g_r within the chunk, c_s = Σ_{s<r≤C} g_r, Γ[t, s] =
    exp(Σ_{s<r≤t} g_r) for s ≤ t (0 above the diagonal; ``chunking.segsum``), and the block
    equations become A = StrictTril(D (K Kᵀ ⊙ Γ)), (I + A)[W | U] = [D e^b K | D V],
    U' = U − W S₀, O = scale · (e^b Q S₀ + (Tril(Q Kᵀ) ⊙ Γ) U'), S_C = e^{b_C} S₀ +
    (e^c K)ᵀ U'. While every |b| ≤ 30 the decays are factored, Γ[t, s] = e^{b_t} e^{−b_s}
    (``chunking.factored_decays_ok``), and the gated rule runs ``_DeltaChunk`` with its
    hand-written backward as the ungated one does; otherwise every decay is summed pair by
    pair or from the chunk's end, never taken as a difference of cumulative sums, so a large
    |g| loses no precision (that path differentiates by autograd).
    """
    B, T, H, K = q.shape
    V = v.shape[-1]
    dtype, ct = q.dtype, chunking.compute_dtype(q)
    C = max(1, min(chunk_size, T))
    # [B, H, N, C, ·]: heads first so that every matmul below is batched over (B, H, N)
    qc, kc, vc = (chunking.to_chunks(x.to(ct), C) for x in (q, k, v))
    bc = chunking.to_chunks(beta.to(ct), C)[..., None]  # [B, H, N, C, 1]
    S0 = chunking.initial(initial_state, B, H, K, V, q, ct)
    if g is None:
        o, S = _DeltaChunk.apply(qc, kc, vc, bc, None, S0, scale)
        return chunking.from_chunks(o, T).to(dtype), (S if output_final_state else None)
    gc = chunking.to_chunks(g.to(ct), C)  # [B, H, N, C]
    b = gc.cumsum(-1)[..., None]  # [B, H, N, C, 1]
    if chunking.factored_decays_ok(b):
        # Γ[t, s] = e^{b_t} e^{−b_s}: the decays fold into the rows of Q and K
        o, S = _DeltaChunk.apply(qc, kc, vc, bc, b, S0, scale)
        return chunking.from_chunks(o, T).to(dtype), (S if output_final_state else None)
    kb = kc * bc
    b, c = chunking.chunk_decays(gc)
    gamma = chunking.segsum(gc).exp()  # [B, H, N, C, C]
    A = (kb @ kc.mT) * gamma
    QK = chunking.tril_((qc @ kc.mT) * gamma)
    eb = b.exp()[..., None]
    kb_in, q_in = kb * eb, qc * eb
    k_dec = (kc * c.exp()[..., None]).mT
    s_dec = b[..., -1:].exp()[..., None]  # [B, H, N, 1, 1]
    WU = torch.linalg.solve_triangular(A.tril(-1), torch.cat([kb_in, vc * bc], dim=-1),
                                       upper=False, unitriangular=True)
    W, U = WU[..., :K], WU[..., K:]
    outs, S = [], S0
    # unbind, not indexing: its backward stacks the chunk gradients once instead of
    # scattering each into a zero tensor of the full size. The outputs are formed inside
    # the loop so that autograd holds each chunk's state once.
    for q_n, QK_n, U_n, W_n, k_n, a_n in zip(q_in.unbind(2), QK.unbind(2), U.unbind(2),
                                             W.unbind(2), k_dec.unbind(2), s_dec.unbind(2),
                                             strict=True):
        u = U_n - W_n @ S  # [B, H, C, V]
        outs.append(q_n @ S + QK_n @ u)
        S = a_n * S + k_n @ u
    o = scale * torch.stack(outs, dim=2)  # [B, H, N, C, V]
    return chunking.from_chunks(o, T).to(dtype), (S if output_final_state else None)


def chunk_scan(W: Tensor, U: Tensor, k: Tensor, S0: Tensor, decay: Tensor | None = None
               ) -> tuple[Tensor, Tensor, Tensor]:
    """The state pass of the chunkwise delta rule, given each chunk's W and U [B, H, N, C, ·].

    For n = 1..N: S_n enters chunk n, U'_n = U_n − W_n S_n, S_{n+1} = a_n S_n + K_nᵀ U'_n,
    with a_n = ``decay[:, :, n]`` ([B, H, N, 1, 1], the gated rule's e^{b_C}) or 1.
    Returns (S_prev [B, H, N, K, V], the states entering each chunk; U' [B, H, N, C, V];
    the final state [B, H, K, V]). Shared by ``_DeltaChunk`` and the benchmark's baseline.
    """
    B, H, N = U.shape[:3]
    states, written = U.new_empty(B, H, N, *S0.shape[2:]), torch.empty_like(U)
    S = S0
    # contiguous per-chunk operands: a strided one costs the batched matmul a copy; each
    # product runs batched over (B·H) (flatten(0, 1): a view) and accumulates in baddbmm
    k_t = k.mT.contiguous()
    for n in range(N):
        states[:, :, n] = S
        u = torch.baddbmm(U[:, :, n].flatten(0, 1), W[:, :, n].flatten(0, 1), S.flatten(0, 1),
                          alpha=-1.0)  # U_n − W_n S_n, [B·H, C, V]
        written[:, :, n] = u.view_as(U[:, :, n])
        S_d = S if decay is None else decay[:, :, n] * S
        S = torch.baddbmm(S_d.flatten(0, 1), k_t[:, :, n].flatten(0, 1), u).view_as(S)
    return states, written, S


def _decayed(q: Tensor, k: Tensor, e: tuple[Tensor, Tensor] | None) -> tuple[Tensor, ...]:
    """The rows of the gated block equations with factored decays Γ[t, s] = e^{b_t} e^{−b_s},
    from e = (e^b, e^{−b}): (e^b Q, e^b K, e^{−b} K, e^{b_C − b} K, e^{b_C}); Q, K, K, K and
    None without gate (e None)."""
    if e is None:
        return q, k, k, k, None
    eb, en = e
    a = eb[..., -1:, :]  # [B, H, N, 1, 1]
    kr = k * en
    return q * eb, k * eb, kr, kr * a, a


class _DeltaChunk(torch.autograd.Function):
    """The chunk kernel with a hand-written backward (derivation: docs/derivations), for the
    delta rule and, with the within-chunk log-decays b, the gated delta rule.

    Inputs are chunked, [B, H, N, C, ·], with β and b as [B, H, N, C, 1]. In the rows of
    ``_decayed`` — Q̃ = e^b Q, K_l = e^b K, K_r = e^{−b} K, K_w = e^{b_C − b} K, a = e^{b_C}
    (all K and a = 1 without gate) — the block equations are

        A = StrictTril(D K_l K_rᵀ),  [W | U] = (I + A)⁻¹ [D K_l | D V],  U'_n = U_n − W_n S_n,
        O_n = scale · (Q̃_n S_n + Tril(Q̃_n K_rᵀ) U'_n),  S_{n+1} = a_n S_n + K_wᵀ U'_n.

    The forward saves the inputs, T_c = (I + A)⁻¹ [N, C, C], W, U, the written values U' and
    one state per chunk; the backward is matmuls with one reverse loop over chunks for the
    state gradient, then the chain rule through the decayed rows to ∂K and ∂b. It is not
    differentiable twice: a backward with ``create_graph=True`` raises.
    """

    @staticmethod
    def forward(ctx, q, k, v, beta, b, S0, scale):
        C = k.shape[-2]
        q_in, k_l, k_r, k_w, a = _decayed(q, k, None if b is None else (b.exp(), (-b).exp()))
        kb, vb = k_l * beta, v * beta
        A = (kb @ k_r.mT).tril_(-1)  # [B, H, N, C, C]
        eye = torch.eye(C, dtype=k.dtype, device=k.device)
        Tc = torch.linalg.solve_triangular(A, eye.expand_as(A), upper=False,
                                           unitriangular=True)
        W, U = Tc @ kb, Tc @ vb  # [B, H, N, C, K], [B, H, N, C, V]
        S_prev, U_new, S = chunk_scan(W, U, k_w, S0, a)  # [B, H, N, K, V], [B, H, N, C, V]
        o = chunking.matmul_add(q_in @ S_prev, (q_in @ k_r.mT).tril_(), U_new, beta=scale,
                                alpha=scale)
        ctx.save_for_backward(q, k, v, beta, b, Tc, W, U, S_prev, U_new)
        ctx.scale = scale
        return o, S

    @staticmethod
    def backward(ctx, do, dS_last):
        if torch.is_grad_enabled():
            raise RuntimeError(
                "the chunk form of delta_rule (and delta_product_rule, gated_delta_rule) has a "
                "hand-written backward that is not differentiable twice; for second "
                "derivatives (create_graph=True) use form='recurrent' or form='parallel'")
        q, k, v, beta, b, Tc, W, U, S_prev, U_new = ctx.saved_tensors
        e = None if b is None else (b.exp(), (-b).exp())
        q_in, k_l, k_r, k_w, a = _decayed(q, k, e)
        # the incoming gradient is a permuted view of [B, T, H, V]: lay it out once
        do = ctx.scale * do.contiguous()
        # O = Q̃ S_prev + Tril(Q̃ K_rᵀ) U'
        dM = (do @ U_new.mT).tril_()  # [B, H, N, C, C]
        dq = chunking.matmul_add(do @ S_prev.mT, dM, k_r)
        dk_r = dM.mT @ q_in
        dU_new = (q_in @ k_r.mT).tril_().mT @ do  # [B, H, N, C, V]
        dS_out = q_in.mT @ do  # [B, H, N, K, V]
        # reverse over chunks: U'_n = U_n − W_n S_n, S_{n+1} = a_n S_n + K_wᵀ U'_n
        dS = torch.zeros_like(S_prev[:, :, 0]) if dS_last is None else dS_last.contiguous()
        du, dS_next = torch.empty_like(U_new), torch.empty_like(S_prev)
        da = []
        for n in reversed(range(k.shape[2])):  # products batched over (B·H), as chunk_scan's
            dS_next[:, :, n] = dS
            # ∂U'_n = dU_new_n + K_w,n ∂S_{n+1}
            du_n = torch.baddbmm(dU_new[:, :, n].flatten(0, 1), k_w[:, :, n].flatten(0, 1),
                                 dS.flatten(0, 1))
            du[:, :, n] = du_n.view_as(du[:, :, n])
            if a is not None:
                da.append((dS * S_prev[:, :, n]).sum((-2, -1)))
                dS = a[:, :, n] * dS
            # ∂S_n = a_n ∂S_{n+1} + ∂S_out,n − W_nᵀ ∂U'_n
            dS = torch.baddbmm((dS + dS_out[:, :, n]).flatten(0, 1),
                               W[:, :, n].mT.flatten(0, 1), du_n, alpha=-1.0).view_as(dS)
        dk_w = U_new @ dS_next.mT
        # W = T_c D K_l, U = T_c D V with T_c = (I + A)⁻¹, A = StrictTril(D K_l K_rᵀ)
        dkb, dvb = Tc.mT @ -(du @ S_prev.mT), Tc.mT @ du  # via dW = −dU' S_prevᵀ, dU = dU'
        # dT_c = dW (DK_l)ᵀ + dU (DV)ᵀ and dA = −T_cᵀ dT_c T_cᵀ = −(T_cᵀ dW) Wᵀ − (T_cᵀ dU) Uᵀ
        dA = chunking.matmul_add(dkb @ W.mT, dvb, U.mT, beta=-1.0, alpha=-1.0).tril_(-1)
        kb = k_l * beta
        dkb = chunking.matmul_add(dkb, dA, k_r)
        dk_r = chunking.matmul_add(dk_r, dA.mT, kb)
        dbeta = (dkb * k_l).sum(-1, keepdim=True) + (dvb * v).sum(-1, keepdim=True)
        dk_l = beta * dkb
        if b is None:
            return dq, dk_r + dk_w + dk_l, beta * dvb, dbeta, None, dS, None
        # the decayed rows: ∂b_t = Σ_κ (∂Q̃ ⊙ Q̃ + ∂K_l ⊙ K_l − ∂K_r ⊙ K_r − ∂K_w ⊙ K_w)_tκ,
        # and b_C also carries Σ_t (∂K_w ⊙ K_w)_t and ∂a · a
        w_term = dk_w * k_w
        db = ((dq * q_in).sum(-1, keepdim=True) + (dk_l * k_l).sum(-1, keepdim=True)
              - (dk_r * k_r).sum(-1, keepdim=True) - w_term.sum(-1, keepdim=True))
        d_end = w_term.sum((-2, -1)) + torch.stack(da[::-1], dim=2) * a[..., 0, 0]
        db[..., -1:, :] += d_end[..., None, None]
        eb, en = e
        dk = dk_l * eb + (dk_r + dk_w * a) * en
        return dq * eb, dk, beta * dvb, dbeta, db, dS, None


def parallel_delta(q: Tensor, k: Tensor, v: Tensor, beta: Tensor, g: Tensor | None, *,
                   scale: float, initial_state: Tensor | None,
                   output_final_state: bool) -> tuple[Tensor, Tensor | None]:
    """The block equations over all T steps at once (shared with ``gated_delta_rule``).

    Decays come from ``chunking.segsum``: exp(Σ_{s<r≤t} g_r) summed pair by pair, so they
    stay exact on long sequences; e^{b_t} and e^{b_T − b_s} are its rows from the start/end.
    """
    B, T, H, K = q.shape
    V = v.shape[-1]
    dtype, ct = q.dtype, chunking.compute_dtype(q)
    qh, kh, vh = (x.to(ct).movedim(2, 1) for x in (q, k, v))  # [B, H, T, ·]
    bh = beta.to(ct).movedim(2, 1)[..., None]  # [B, H, T, 1]
    S0 = chunking.initial(initial_state, B, H, K, V, q, ct)
    kb = kh * bh
    A = kb @ kh.mT
    QK = qh @ kh.mT
    if g is not None:
        # prepend a zero gate: row 0 of the [T+1, T+1] segsum measures decay from the start
        seg = chunking.segsum(torch.cat([g.new_zeros(B, 1, H), g], 1).to(ct).movedim(2, 1))
        gamma = seg[..., 1:, 1:].exp()  # [B, H, T, T]
        e_from_start = seg[..., 1:, 0].exp()[..., None]  # exp(b_t), [B, H, T, 1]
        e_to_end = seg[..., -1, 1:].exp()[..., None]  # exp(b_T − b_s), [B, H, T, 1]
        A, QK = A * gamma, QK * gamma
        wu = torch.cat([kb * e_from_start, vh * bh], dim=-1)
    else:
        wu = torch.cat([kb, vh * bh], dim=-1)
    WU = torch.linalg.solve_triangular(A.tril(-1), wu, upper=False, unitriangular=True)
    U_new = WU[..., K:] - WU[..., :K] @ S0  # [B, H, T, V]
    q_in = qh * e_from_start if g is not None else qh
    o = scale * (q_in @ S0 + chunking.tril_(QK) @ U_new)
    if not output_final_state:
        return o.movedim(1, 2).to(dtype), None
    if g is None:
        S = S0 + kh.mT @ U_new
    else:
        s_dec = e_from_start[..., -1:, :] if T else torch.ones_like(S0[..., :1, :1])
        S = s_dec * S0 + (kh * e_to_end).mT @ U_new
    return o.movedim(1, 2).to(dtype), S




def delta_rule(q: Tensor, k: Tensor, v: Tensor, beta: Tensor, *, scale: float | None = None,
               initial_state: Tensor | None = None, output_final_state: bool = False,
               form: str = "auto", chunk_size: int = 64, cu_seqlens: Tensor | None = None,
               backend: str = "auto") -> tuple[Tensor, Tensor | None]:
    """Delta-rule fast weights. Shapes and semantics: see the module docstring and
    ``fastweights.ops.spec``; form and backend: ``fastweights.ops.dispatch``."""
    return dispatch.call(RULE, (q, k, v, beta), scale=scale, initial_state=initial_state,
                         output_final_state=output_final_state, form=form,
                         chunk_size=chunk_size, cu_seqlens=cu_seqlens, backend=backend)


RULE = Rule(
    name="delta_rule",
    paper="Schlag, Irie & Schmidhuber 2021; Yang et al. 2024 (DeltaNet)",
    recurrence="S_t = S_{t-1} + β_t k_t (v_t − S_{t-1}ᵀk_t)ᵀ",
    args=(QUERY, UNIT_KEY, VALUE, WRITE_STRENGTH),
    state=(FAST_WEIGHTS,),
    forms={"recurrent": delta_rule_recurrent, "parallel": delta_rule_parallel,
           "chunk": delta_rule_chunk},
    fn=delta_rule,
    kernels={"fla": {
        "chunk": fla.Kernel("fla.ops.delta_rule", "chunk_delta_rule",
                            {"use_qk_l2norm_in_kernel": False}),
        "recurrent": fla.Kernel("fla.ops.delta_rule", "fused_recurrent_delta_rule",
                                {"use_qk_l2norm_in_kernel": False}),
    }},
)
