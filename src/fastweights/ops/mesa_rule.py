"""Mesa rule: the locally optimal in-context linear regressor of MesaNet (von Oswald et al.
2025, the Mesa layer, eq. 5; flash-linear-attention's ``mesa_net``).

    H_kk,t = γ_t H_kk,t−1 + β_t k_t k_tᵀ           H_kk ∈ ℝ^{K×K} per head
    H_kv,t = γ_t H_kv,t−1 + β_t k_t v_tᵀ           H_kv ∈ ℝ^{K×V} per head
    o_t = H_kv,tᵀ (H_kk,t + Λ)⁻¹ q̂_t,   q̂_t = scale · q_t    (read after write)

o_t = W_t* q̂_t for W* = argmin_W Σ_{s≤t} β_s (Π_{s<r≤t} γ_r) ‖W k_s − v_s‖² + tr(W Λ Wᵀ),
the ridge regression of the values on the keys seen so far: the optimum that the delta rule
(one gradient step per token) approaches. γ_t = e^{g_t}; Λ = diag(λ_t) > 0 per head and key
(MesaNet learns one λ per head and key; it is a per-step argument here, the layer expands
its parameter, so that packed and padded calls need no special case). ``scale`` defaults
to 1 here: the regressor's prediction is not rescaled (the paper and fla use the raw query).

| paper                         | argument                          |
|-------------------------------|-----------------------------------|
| query / key / value           | q, k, v                           |
| forget strength γ = e^{g}     | g [B, T, H] ≤ 0                   |
| input strength β              | beta [B, T, H] ≥ 0                |
| regulariser Λ = diag(λ)       | lam [B, T, H, K] > 0              |
| H, G (paper)                  | state (H_kk [B,H,K,K], H_kv [B,H,K,V]) |

Forms. Both statistics are gated sum-rule states. In a block of C steps from (H_kk,0,
H_kv,0) with b_t = Σ_{r≤t} g_r and Γ[t, s] = e^{b_t − b_s} (s ≤ t, else 0; pairwise sums of
gates from ``chunking.segsum``):

    H_kk,t = e^{b_t} H_kk,0 + Σ_{s≤t} Γ[t, s] β_s k_s k_sᵀ       (every t: [C, K, K])
    x_t    = (H_kk,t + Λ)⁻¹ q̂_t                                   (a batched exact solve)
    o_t    = e^{b_t} H_kv,0ᵀ x_t + Σ_{s≤t} Γ[t, s] β_s (k_sᵀ x_t) v_s

By default the K×K system of each step is formed and solved exactly (T·K² memory, T·K³
flops). ``cg_steps = n`` reads x_t as the paper does (§3.2; fla's ``naive_mesa_net_CG``):
n conjugate-gradient iterations from x = 0 on (H_kk,t + Λ) x = q̂_t,

    r₀ = p₀ = q̂,  α = rᵀr / pᵀAp,  x ← x + α p,  r' = r − α A p,  p ← r' + (r'ᵀr' / rᵀr) p

(a system stops once ‖r‖ ≤ ε‖q̂‖, ε the machine epsilon); the chunk form applies A = H_kk,t + Λ as
e^{b_t} H_kk,0 p + Σ_s Γ[t, s] β_s k_s (k_sᵀ p) + λ ⊙ p, never forming H_kk,t. After K
iterations CG is exact in exact arithmetic; fewer are the paper's approximation (fla's
naive reference adds 1e-5 to both denominators; here they are exact). ``parallel`` is one
block of all T steps.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from fastweights.ops import chunking, dispatch
from fastweights.ops.spec import (
    QUERY,
    SCALAR_GATE,
    UNIT_KEY,
    VALUE,
    Arg,
    Domain,
    Option,
    Rule,
    State,
)

Stats = tuple[Tensor, Tensor]


def conjugate_gradient(matvec, b: Tensor, steps: int) -> Tensor:
    """``steps`` CG iterations from 0 on A x = b (A symmetric positive definite, applied by
    ``matvec`` to [..., K]); every system of the batch at once. A system whose residual has
    fallen to ‖r‖ ≤ ε‖b‖ (ε the dtype's machine epsilon) stops: past convergence CG would
    divide rounding noise by rounding noise."""
    eps2 = torch.finfo(b.dtype).eps ** 2
    x, r, p = torch.zeros_like(b), b, b
    rr = (r * r).sum(-1, keepdim=True)
    floor = eps2 * rr
    for _ in range(steps):
        live = rr > floor
        Ap = matvec(p)
        pAp = (p * Ap).sum(-1, keepdim=True)
        alpha = torch.where(live, rr / torch.where(live, pAp, 1.0), 0.0)
        x, r = x + alpha * p, r - alpha * Ap
        rr_new = (r * r).sum(-1, keepdim=True)
        p = r + torch.where(live, rr_new / torch.where(live, rr, 1.0), 0.0) * p
        rr = rr_new
    return x


def _initial(initial_state: Stats | None, B: int, H: int, K: int, V: int,
             like: Tensor) -> Stats:
    if initial_state is None:
        return like.new_zeros(B, H, K, K), like.new_zeros(B, H, K, V)
    return tuple(s.to(like.dtype) for s in initial_state)


def mesa_rule_recurrent(q: Tensor, k: Tensor, v: Tensor, g: Tensor, beta: Tensor,
                        lam: Tensor, *, scale: float, initial_state: Stats | None = None,
                        output_final_state: bool = False,
                        cg_steps: int | None = None) -> tuple[Tensor, Stats | None]:
    """The reference: a plain loop over t in fp32 (fp64 stays fp64), nothing in place.

    q, k: [B, T, H, K]; v: [B, T, H, V]; g, beta: [B, T, H]; lam: [B, T, H, K]; initial_state:
    (H_kk [B, H, K, K], H_kv [B, H, K, V]) or None (zeros); cg_steps: None (exact solve) or
    the CG iterations of the read. Returns o [B, T, H, V] in q's dtype and (H_kk, H_kv) at T
    in the compute dtype (or None).
    """
    B, T, H, K = q.shape
    V = v.shape[-1]
    dtype, ct = q.dtype, chunking.compute_dtype(q)
    Hkk, Hkv = _initial(initial_state, B, H, K, V, q.to(ct))
    outs = []
    for q_t, k_t, v_t, g_t, b_t, l_t in zip(*(x.to(ct).unbind(1)
                                              for x in (q, k, v, g, beta, lam)), strict=True):
        gamma, kb = g_t.exp()[..., None, None], b_t[..., None] * k_t
        Hkk = gamma * Hkk + torch.einsum("bhk,bhj->bhkj", kb, k_t)
        Hkv = gamma * Hkv + torch.einsum("bhk,bhv->bhkv", kb, v_t)
        A = Hkk + torch.diag_embed(l_t)
        x = (torch.linalg.solve(A, scale * q_t) if cg_steps is None else  # [B, H, K]
             conjugate_gradient(lambda p, A=A: (A @ p[..., None])[..., 0], scale * q_t,
                                cg_steps))
        outs.append(torch.einsum("bhk,bhkv->bhv", x, Hkv))
    o = chunking.stack_steps(outs, B, H, V, v)
    return o.to(dtype), ((Hkk, Hkv) if output_final_state else None)


def mesa_rule_chunk(q: Tensor, k: Tensor, v: Tensor, g: Tensor, beta: Tensor, lam: Tensor, *,
                    scale: float, initial_state: Stats | None = None,
                    output_final_state: bool = False, chunk_size: int = 64,
                    cg_steps: int | None = None) -> tuple[Tensor, Stats | None]:
    """Chunkwise form: same arguments and results as the reference."""
    B, T, H, K = q.shape
    V = v.shape[-1]
    dtype, ct = q.dtype, chunking.compute_dtype(q)
    Hkk, Hkv = _initial(initial_state, B, H, K, V, q.to(ct))
    if T == 0:
        return v.new_zeros(B, 0, H, V), ((Hkk, Hkv) if output_final_state else None)
    C = max(1, min(chunk_size, T))
    qc, kc, vc = (chunking.to_chunks(x.to(ct), C) for x in (q, k, v))  # [B, H, N, C, ·]
    bc = chunking.to_chunks(beta.to(ct), C)[..., None]  # [B, H, N, C, 1]
    gc = chunking.to_chunks(g.to(ct), C)
    # a zero gate in front: seg[t + 1, s + 1] = Γ[t, s], seg[t + 1, 0] = e^{b_t}
    seg = chunking.segsum(torch.cat([torch.zeros_like(gc[..., :1]), gc], -1)).exp()
    weights, gamma = seg[..., 1:, :], seg[..., 1:, 1:]  # [.., C, 1 + C], [.., C, C]
    from_start, to_end = seg[..., 1:, :1], seg[..., -1, 1:, None]  # [B, H, N, C, 1]
    kb = kc * bc
    w_kk, w_kv = (to_end * kb).mT @ kc, (to_end * kb).mT @ vc  # [B, H, N, K, K | V]
    decay = from_start[..., -1:, :]  # [B, H, N, 1, 1]
    # the two states at each block start: a loop over blocks, then every solve at once
    starts = []
    for wkk_n, wkv_n, d_n in zip(w_kk.unbind(2), w_kv.unbind(2), decay.unbind(2),
                                 strict=True):
        starts.append((Hkk, Hkv))
        Hkk, Hkv = d_n * Hkk + wkk_n, d_n * Hkv + wkv_n
    Hkk0 = torch.stack([s[0] for s in starts], dim=2)  # [B, H, N, K, K]
    Hkv0 = torch.stack([s[1] for s in starts], dim=2)  # [B, H, N, K, V]
    # padded steps get Λ = I: their (discarded) solves stay regular
    valid = chunking.to_chunks(lam.new_ones(lam.shape[:3], dtype=torch.bool), C)
    lamc = chunking.to_chunks(lam.to(ct), C).masked_fill(~valid[..., None], 1.0)
    if cg_steps is None:
        # H_kk,t of every step as one matmul over [H_kk,0 | the block's writes], then + Λ_t
        kk = (kb[..., :, None] * kc[..., None, :]).flatten(-2)  # [B, H, N, C, K·K]
        basis = torch.cat([Hkk0.flatten(-2)[..., None, :], kk], -2)  # [B, H, N, 1 + C, K·K]
        Hkk_t = (weights @ basis).unflatten(-1, (K, K))  # [B, H, N, C, K, K]
        Hkk_t.diagonal(dim1=-2, dim2=-1).add_(lamc)
        x = torch.linalg.solve(Hkk_t, scale * qc)  # [B, H, N, C, K]
    else:
        x = conjugate_gradient(lambda p: from_start * (p @ Hkk0.mT)
                               + ((p @ kc.mT) * gamma) @ kb + lamc * p, scale * qc, cg_steps)
    o = from_start * (x @ Hkv0) + ((x @ kb.mT) * gamma) @ vc
    return chunking.from_chunks(o, T).to(dtype), ((Hkk, Hkv) if output_final_state else None)


def mesa_rule_parallel(q: Tensor, k: Tensor, v: Tensor, g: Tensor, beta: Tensor, lam: Tensor,
                       *, scale: float, initial_state: Stats | None = None,
                       output_final_state: bool = False,
                       cg_steps: int | None = None) -> tuple[Tensor, Stats | None]:
    """Quadratic form: the block equations once over all T steps."""
    return mesa_rule_chunk(q, k, v, g, beta, lam, scale=scale, initial_state=initial_state,
                           output_final_state=output_final_state,
                           chunk_size=max(1, q.shape[1]), cg_steps=cg_steps)


def mesa_rule(q: Tensor, k: Tensor, v: Tensor, g: Tensor, beta: Tensor, lam: Tensor, *,
              scale: float | None = None, initial_state: Stats | None = None,
              output_final_state: bool = False, form: str = "auto", chunk_size: int = 64,
              cu_seqlens: Tensor | None = None, backend: str = "auto",
              cg_steps: int | None = None) -> tuple[Tensor, Stats | None]:
    """The Mesa layer's optimal linear read; g, beta [B, T, H], lam [B, T, H, K] > 0;
    ``scale`` defaults to 1; the state is (H_kk, H_kv); ``cg_steps``: None (exact solve) or
    the conjugate-gradient iterations of the paper's read. Shapes and semantics: see the
    module docstring and ``fastweights.ops.spec``."""
    if cg_steps is not None and (isinstance(cg_steps, bool) or not isinstance(cg_steps, int)
                                 or cg_steps < 1):
        raise ValueError(f"cg_steps must be None (exact solve) or an int >= 1, got {cg_steps!r}")
    return dispatch.call(RULE, (q, k, v, g, beta, lam), scale=1.0 if scale is None else scale,
                         initial_state=initial_state, output_final_state=output_final_state,
                         form=form, chunk_size=chunk_size, cu_seqlens=cu_seqlens,
                         backend=backend,
                         form_options=None if cg_steps is None else {"cg_steps": cg_steps})


RULE = Rule(
    name="mesa_rule",
    paper="von Oswald et al. 2025 (MesaNet, the Mesa layer, eq. 5)",
    recurrence="H_kk,t = γ_t H_kk,t-1 + β_t k_t k_tᵀ; H_kv,t = γ_t H_kv,t-1 + β_t k_t v_tᵀ; "
               "o_t = H_kv,tᵀ (H_kk,t + diag(λ_t))⁻¹ q_t",
    args=(QUERY, UNIT_KEY, VALUE, SCALAR_GATE,
          Arg("beta", ("B T H",), "input strength β (weight of the pair in the regression)",
              domain=Domain(0.0, math.inf), kind="gate"),
          Arg("lam", ("B T H K",), "ridge regulariser λ > 0 (Λ = diag(λ))",
              domain=Domain(0.0, math.inf, why="Λ must keep H_kk + Λ invertible"),
              neutral=1.0, kind="gate")),
    state=(State("H_kk", "N H K K", "decayed key covariance Σ β k kᵀ", psd=True),
           State("H_kv", "N H K V", "decayed key-value covariance Σ β k vᵀ")),
    forms={"recurrent": mesa_rule_recurrent, "parallel": mesa_rule_parallel,
           "chunk": mesa_rule_chunk},
    fn=mesa_rule,
    options=(Option("cg_steps", None, (None, 2),
                    "the read by this many conjugate-gradient iterations (None: exact solve)",
                    form=True),),
)
