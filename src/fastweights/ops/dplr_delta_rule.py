"""DPLR delta rule: a diagonal-plus-low-rank transition (the generalised delta rule of
RWKV-7, Peng et al. 2025; flash-linear-attention's ``dplr_delta_rule``, whose gk is g here).

    S_t = Diag(e^{g_t}) S_{t−1} + b_t (a_tᵀ S_{t−1}) + k_t v_tᵀ      S ∈ ℝ^{K×V} per head
        = (Diag(e^{g_t}) + b_t a_tᵀ) S_{t−1} + k_t v_tᵀ
    o_t = scale · S_tᵀ q_t                                            (read after write)

a reads the old state, b writes along a direction, both act on the undecayed S_{t−1}.
RWKV-7 (arXiv:2503.14456, §4, the "wkv" state evolution S_t = S_{t−1}(diag(w_t) −
κ̂_tᵀ(a_t ⊙ κ̂_t)) + v_tᵀ k̃_t with S ∈ ℝ^{V×K}) is, transposed to the layout here,
a = −κ̂ (the normalised removal key reads), b = κ̂ ⊙ a_rate (the in-context learning
rate writes), g = log w, k = k̃. (The table that asked for this op wrote a_t (b_tᵀ S) with
the same a, b; that transposes the low-rank term, so the paper's order is the one used.)
g = 0, a = −k, b = β k is the delta rule; g = 0 alone is IPLR.

| paper (RWKV-7)                     | argument             |
|------------------------------------|----------------------|
| receptance r / key k̃ / value v     | q, k, v              |
| decay w = e^{g} (per key)          | g [B, T, H, K], ≤ 0  |
| −κ̂ (read) / κ̂ ⊙ a (write)          | a, b [B, T, H, K]    |
| state wkv (transposed)             | state [B, H, K, V]   |

Forms. In a block of C steps from S₀ let Γ_t = Σ_{r≤t} g_r (per key, restarted at each
block) and u_t = a_tᵀ S_{t−1} (the value read, [C, V] stacked). Unrolled,
S_t = e^{Γ_t} ⊙ S₀ + Σ_{s≤t} e^{Γ_t − Γ_s} ⊙ (b_s u_sᵀ + k_s v_sᵀ), hence with the decayed
scores X·Y[t, s] = Σ_κ x_tκ y_sκ e^{Γ'_tκ − Γ_sκ} (``decayed_scores``; Γ is summed in
float64 so that one extreme gate in a block costs the differences no digits):

    (I − StrictTril(a·b)) U = (a ⊙ e^{Γ_{t−1}}) S₀ + StrictTril(a·k) V   [Γ' = Γ_{t−1}]
    O   = scale · ((q ⊙ e^{Γ}) S₀ + Tril(q·b) U + Tril(q·k) V)            [Γ' = Γ_t]
    S_C = e^{Γ_C} ⊙ S₀ + (b ⊙ e^{Γ_C − Γ})ᵀ U + (k ⊙ e^{Γ_C − Γ})ᵀ V

The solve is unit-triangular and U = W S₀ + U₀ is affine in S₀, so only U = W S + U₀ and
the state update run in a loop over blocks. ``parallel`` is one block of all T steps.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fastweights.ops import chunking, dispatch
from fastweights.ops.spec import (
    FAST_WEIGHTS,
    KEY,
    LOG_GATE,
    QUERY,
    REAL,
    VALUE,
    Arg,
    Rule,
)


def dplr_delta_rule_recurrent(q: Tensor, k: Tensor, v: Tensor, a: Tensor, b: Tensor,
                              g: Tensor, *, scale: float, initial_state: Tensor | None = None,
                              output_final_state: bool = False
                              ) -> tuple[Tensor, Tensor | None]:
    """The reference: a plain loop over t in fp32 (fp64 stays fp64), nothing in place.

    q, k, a, b, g: [B, T, H, K]; v: [B, T, H, V]; initial_state: [B, H, K, V] or None.
    Returns o [B, T, H, V] in q's dtype and S_T [B, H, K, V] in the compute dtype (or None).
    """
    B, T, H, K = q.shape
    V = v.shape[-1]
    dtype, ct = q.dtype, chunking.compute_dtype(q)
    S = chunking.initial(initial_state, B, H, K, V, q, ct)
    outs = []
    for q_t, k_t, v_t, a_t, b_t, g_t in zip(*(x.to(ct).unbind(1) for x in (q, k, v, a, b, g)),
                                            strict=True):
        read = torch.einsum("bhk,bhkv->bhv", a_t, S)
        S = (g_t.exp()[..., None] * S + torch.einsum("bhk,bhv->bhkv", b_t, read)
             + torch.einsum("bhk,bhv->bhkv", k_t, v_t))
        outs.append(scale * torch.einsum("bhk,bhkv->bhv", q_t, S))
    o = chunking.stack_steps(outs, B, H, V, v)
    return o.to(dtype), (S if output_final_state else None)


def decayed_scores(x: Tensor, y: Tensor, bx: Tensor, by: Tensor, *, strict: bool,
                   sub: int = 8) -> Tensor:
    """A[p, t, s] = Σ_κ x_tκ y_{p,sκ} exp(bx_tκ − by_sκ) for s ≤ t (s < t if ``strict``), else 0.

    x: [..., C, K]; y: [P, ..., C, K] (P score matrices sharing the decays); bx, by: float64
    cumulative log-gates [..., C, K] with bx_t ≤ by_s for s < t (and s = t unless strict):
    by non-increasing, bx = by or by one step behind. Returns [P, ..., C, C] in x's dtype.
    While every |by| ≤ 30 (``chunking.factored_decays_ok``) the decay factors,
    exp(bx_t − by_s) = e^{bx_t} · e^{−by_s}, and A is one matmul (x ⊙ e^{bx})(y ⊙ e^{−by})ᵀ;
    both factors are rounded once from the float64 sums, so A keeps the compute precision.
    Otherwise differences are taken in float64, so a cumulative sum that carries one extreme
    gate (g = −1e4) loses no digits. As in GLA (Yang et al. 2024) the block is cut into
    sub-blocks of ``sub`` steps: inside one the pairwise terms are formed directly; between
    sub-block j and a later i the decay splits at r_i = by just before i starts (r_0 = 0),
    exp(bx_t − r_i) · exp(r_i − by_s), two factors ≤ 1, so that block is a matmul.
    """
    C, K = x.shape[-2:]
    P, ct = y.shape[0], x.dtype
    if chunking.factored_decays_ok(by):
        # the P score matrices side by side as columns of one (unbroadcast) batched matmul
        cols = (y * (-by).exp().to(ct)).movedim(0, -3).flatten(-3, -2)  # [..., P·C, K]
        scores = (x * bx.exp().to(ct)) @ cols.mT  # [..., C, P·C]
        return scores.unflatten(-1, (P, C)).movedim(-2, 0).tril(-1 if strict else 0)
    if C % sub:
        sub = C
    n = C // sub
    lead = x.shape[:-2]
    xs, bxs, bys = (t.reshape(*lead, n, sub, K) for t in (x, bx, by))  # [..., n, sub, K]
    ys = y.reshape(y.shape[0], *lead, n, sub, K)
    mask = torch.ones(sub, sub, dtype=torch.bool, device=x.device).tril(-1 if strict else 0)
    diff = (bxs[..., :, None, :] - bys[..., None, :, :]).masked_fill(~mask[..., None],
                                                                      float("-inf"))
    # (x ⊙ decay) then the product with y and a sum over κ: cheaper than a 3-way einsum
    xe = xs[..., :, None, :] * diff.exp().to(ct)  # [..., n, t, s, K]
    diag = (xe.unsqueeze(0) * ys[..., None, :, :]).sum(-1)  # [P, ..., n, t, s]
    if n == 1:
        return diag.reshape(y.shape[0], *lead, C, C)
    r = torch.cat([torch.zeros_like(bys[..., :1, 0, :]), bys[..., :-1, -1, :]], dim=-2)
    x_dec = xs * (bxs - r[..., :, None, :]).exp().to(ct)  # [..., i, t, K]
    earlier = torch.ones(n, n, dtype=torch.bool, device=x.device).tril(-1)  # j < i
    y_exp = (r[..., :, None, None, :] - bys[..., None, :, :, :])  # [..., i, j, s, K]
    y_dec = ys[..., None, :, :, :] * y_exp.masked_fill(~earlier[:, :, None, None],
                                                       float("-inf")).exp().to(ct)
    cols = y_dec.movedim(0, -4).flatten(-4, -2)  # [..., i, P·j·s, K]
    off = (x_dec @ cols.mT).unflatten(-1, (P, n, sub)).movedim(-3, 0)  # [P, ..., i, t, j, s]
    eye = torch.eye(n, dtype=ct, device=x.device)
    full = off + diag[..., :, :, None, :] * eye[:, None, :, None]
    return full.reshape(y.shape[0], *lead, C, C)


def dplr_delta_rule_chunk(q: Tensor, k: Tensor, v: Tensor, a: Tensor, b: Tensor, g: Tensor,
                          *, scale: float, initial_state: Tensor | None = None,
                          output_final_state: bool = False,
                          chunk_size: int = 64) -> tuple[Tensor, Tensor | None]:
    """Chunkwise form: same arguments and results as the reference."""
    B, T, H, K = q.shape
    V = v.shape[-1]
    dtype, ct = q.dtype, chunking.compute_dtype(q)
    S0 = chunking.initial(initial_state, B, H, K, V, q, ct)
    if T == 0:
        return v.new_zeros(B, 0, H, V), (S0 if output_final_state else None)
    C = max(1, min(chunk_size, T))
    qc, kc, vc, ac, bc = (chunking.to_chunks(x.to(ct), C) for x in (q, k, v, a, b))
    # cumulative gates in float64: their differences below keep every digit
    G = chunking.to_chunks(g.double(), C).cumsum(-2)  # [B, H, N, C, K]
    G_prev = torch.cat([torch.zeros_like(G[..., :1, :]), G[..., :-1, :]], dim=-2)
    A_ab, A_ak = decayed_scores(ac, torch.stack([bc, kc]), G_prev, G, strict=True)
    A_qb, A_qk = decayed_scores(qc, torch.stack([bc, kc]), G, G, strict=False)
    last = G[..., -1:, :]  # [B, H, N, 1, K]
    to_end = (last - G).exp().to(ct)
    decay = last.exp().mT.to(ct)  # [B, H, N, K, 1]
    G, G_prev = G.to(ct), G_prev.to(ct)
    rhs = torch.cat([ac * G_prev.exp(), A_ak @ vc], dim=-1)  # [B, H, N, C, K + V]
    WU = torch.linalg.solve_triangular(-A_ab, rhs, upper=False, unitriangular=True)
    W, U0 = WU[..., :K], WU[..., K:]
    b_end = (bc * to_end).mT  # [B, H, N, K, C]
    writes = (kc * to_end).mT @ vc  # [B, H, N, K, V]
    outs, S = [], S0
    for q_n, Aqb_n, W_n, U_n, b_n, w_n, a_n in zip(
            (qc * G.exp()).unbind(2), A_qb.unbind(2), W.unbind(2), U0.unbind(2),
            b_end.unbind(2), writes.unbind(2), decay.unbind(2), strict=True):
        u = W_n @ S + U_n  # [B, H, C, V]
        outs.append(q_n @ S + Aqb_n @ u)
        S = a_n * S + b_n @ u + w_n
    o = scale * (torch.stack(outs, dim=2) + A_qk @ vc)
    return chunking.from_chunks(o, T).to(dtype), (S if output_final_state else None)


def dplr_delta_rule_parallel(q: Tensor, k: Tensor, v: Tensor, a: Tensor, b: Tensor,
                             g: Tensor, *, scale: float, initial_state: Tensor | None = None,
                             output_final_state: bool = False
                             ) -> tuple[Tensor, Tensor | None]:
    """Quadratic form: the block equations once over all T steps."""
    return dplr_delta_rule_chunk(q, k, v, a, b, g, scale=scale, initial_state=initial_state,
                                 output_final_state=output_final_state,
                                 chunk_size=max(1, q.shape[1]))


def dplr_delta_rule(q: Tensor, k: Tensor, v: Tensor, a: Tensor, b: Tensor, g: Tensor, *,
                    scale: float | None = None, initial_state: Tensor | None = None,
                    output_final_state: bool = False, form: str = "auto",
                    chunk_size: int = 64, cu_seqlens: Tensor | None = None,
                    backend: str = "auto") -> tuple[Tensor, Tensor | None]:
    """DPLR fast weights; a (read), b (write), g (per-key log-decay ≤ 0) are [B, T, H, K].
    Shapes and semantics: see the module docstring and ``fastweights.ops.spec``."""
    return dispatch.call(RULE, (q, k, v, a, b, g), scale=scale, initial_state=initial_state,
                         output_final_state=output_final_state, form=form,
                         chunk_size=chunk_size, cu_seqlens=cu_seqlens, backend=backend)


RULE = Rule(
    name="dplr_delta_rule",
    paper="Peng et al. 2025 (RWKV-7, §4 the wkv state evolution); fla's dplr_delta_rule",
    recurrence="S_t = Diag(e^{g_t}) S_{t-1} + b_t (a_tᵀ S_{t-1}) + k_t v_tᵀ",
    args=(QUERY, KEY, VALUE,
          Arg("a", ("B T H K",), "read vector of the low-rank term (RWKV-7: −κ̂)",
              domain=REAL, unit_norm=True),
          Arg("b", ("B T H K",), "write vector of the low-rank term (RWKV-7: κ̂ ⊙ a, norm ≤ 1)",
              unit_norm=True),
          Arg("g", ("B T H K",), "per-key log-decay g, w_t = exp(g_t)", domain=LOG_GATE,
              kind="gate")),
    state=(FAST_WEIGHTS,),
    forms={"recurrent": dplr_delta_rule_recurrent, "parallel": dplr_delta_rule_parallel,
           "chunk": dplr_delta_rule_chunk},
    fn=dplr_delta_rule,
)
