"""Mesa rule: the locally optimal in-context linear regressor of MesaNet (von Oswald et al.
2025, the Mesa layer, eq. 5; flash-linear-attention's ``mesa_net``).

    H_kk,t = γ_t H_kk,t−1 + β_t k_t k_tᵀ           H_kk ∈ ℝ^{K×K} per head
    H_kv,t = γ_t H_kv,t−1 + β_t k_t v_tᵀ           H_kv ∈ ℝ^{K×V} per head
    o_t = H_kv,tᵀ (H_kk,t + Λ)⁻¹ q̂_t,   q̂_t = scale · q_t    (read after write)

o_t = W_t* q̂_t for W* = argmin_W Σ_{s≤t} β_s (Π_{s<r≤t} γ_r) ‖W k_s − v_s‖² + tr(W Λ Wᵀ),
the ridge regression of the values on the keys seen so far: the optimum that the delta rule
(one gradient step per token) approaches. γ_t = e^{g_t}; Λ = diag(λ), λ > 0 per head and key
(a learned parameter, not a per-step input). ``scale`` defaults to 1 here: the regressor's
prediction is not rescaled (the paper and fla use the raw query).

| paper                         | argument                          |
|-------------------------------|-----------------------------------|
| query / key / value           | q, k, v                           |
| forget strength γ = e^{g}     | g [B, T, H] ≤ 0                   |
| input strength β              | beta [B, T, H] ≥ 0                |
| regulariser Λ = diag(λ)       | lam [H, K] > 0                    |
| H, G (paper)                  | state (H_kk [B,H,K,K], H_kv [B,H,K,V]) |

Forms. Both statistics are gated sum-rule states. In a block of C steps from (H_kk,0,
H_kv,0) with b_t = Σ_{r≤t} g_r and Γ[t, s] = e^{b_t − b_s} (s ≤ t, else 0; pairwise sums of
gates from ``contract.segsum``):

    H_kk,t = e^{b_t} H_kk,0 + Σ_{s≤t} Γ[t, s] β_s k_s k_sᵀ       (every t: [C, K, K])
    x_t    = (H_kk,t + Λ)⁻¹ q̂_t                                   (a batched exact solve)
    o_t    = e^{b_t} H_kv,0ᵀ x_t + Σ_{s≤t} Γ[t, s] β_s (k_sᵀ x_t) v_s

The paper reads x_t with a few conjugate-gradient steps (approximate, and it never forms
H_kk,t); here the K×K system of each step is formed and solved exactly, which costs T·K²
memory and T·K³ flops and equals the recurrence. ``parallel`` is one block of all T steps.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fastweights.ops import contract

State = tuple[Tensor, Tensor]


def _initial(initial_state: State | None, B: int, H: int, K: int, V: int,
             like: Tensor) -> State:
    if initial_state is None:
        return like.new_zeros(B, H, K, K), like.new_zeros(B, H, K, V)
    return tuple(s.to(like.dtype) for s in initial_state)


def mesa_rule_recurrent(q: Tensor, k: Tensor, v: Tensor, g: Tensor, beta: Tensor,
                        lam: Tensor, *, scale: float, initial_state: State | None = None,
                        output_final_state: bool = False) -> tuple[Tensor, State | None]:
    """The reference: a plain loop over t in fp32 (fp64 stays fp64), nothing in place.

    q, k: [B, T, H, K]; v: [B, T, H, V]; g, beta: [B, T, H]; lam: [H, K]; initial_state:
    (H_kk [B, H, K, K], H_kv [B, H, K, V]) or None (zeros). Returns o [B, T, H, V] in q's
    dtype and (H_kk, H_kv) at T in the compute dtype (or None).
    """
    B, T, H, K = q.shape
    V = v.shape[-1]
    dtype, ct = q.dtype, contract.compute_dtype(q)
    Hkk, Hkv = _initial(initial_state, B, H, K, V, q.to(ct))
    reg = torch.diag_embed(lam.to(ct))  # [H, K, K]
    outs = []
    for q_t, k_t, v_t, g_t, b_t in zip(*(x.to(ct).unbind(1) for x in (q, k, v, g, beta)),
                                       strict=True):
        gamma, kb = g_t.exp()[..., None, None], b_t[..., None] * k_t
        Hkk = gamma * Hkk + torch.einsum("bhk,bhj->bhkj", kb, k_t)
        Hkv = gamma * Hkv + torch.einsum("bhk,bhv->bhkv", kb, v_t)
        x = torch.linalg.solve(Hkk + reg, scale * q_t)  # [B, H, K]
        outs.append(torch.einsum("bhk,bhkv->bhv", x, Hkv))
    o = torch.stack(outs, dim=1) if outs else v.new_zeros(B, 0, H, V)
    return o.to(dtype), ((Hkk, Hkv) if output_final_state else None)


def mesa_rule_chunk(q: Tensor, k: Tensor, v: Tensor, g: Tensor, beta: Tensor, lam: Tensor, *,
                    scale: float, initial_state: State | None = None,
                    output_final_state: bool = False,
                    chunk_size: int = 64) -> tuple[Tensor, State | None]:
    """Chunkwise form: same arguments and results as the reference."""
    B, T, H, K = q.shape
    V = v.shape[-1]
    dtype, ct = q.dtype, contract.compute_dtype(q)
    Hkk, Hkv = _initial(initial_state, B, H, K, V, q.to(ct))
    if T == 0:
        return v.new_zeros(B, 0, H, V), ((Hkk, Hkv) if output_final_state else None)
    C = max(1, min(chunk_size, T))
    qc, kc, vc = (contract.to_chunks(x.to(ct), C) for x in (q, k, v))  # [B, H, N, C, ·]
    bc = contract.to_chunks(beta.to(ct), C)[..., None]  # [B, H, N, C, 1]
    gc = contract.to_chunks(g.to(ct), C)
    # a zero gate in front: seg[t + 1, s + 1] = Γ[t, s], seg[t + 1, 0] = e^{b_t}
    seg = contract.segsum(torch.cat([torch.zeros_like(gc[..., :1]), gc], -1)).exp()
    gamma, from_start = seg[..., 1:, 1:], seg[..., 1:, :1, None]  # [.., C, C], [.., C, 1, 1]
    to_end = seg[..., -1, 1:, None]  # [B, H, N, C, 1]
    kb = kc * bc
    kk = (kb[..., :, None] * kc[..., None, :]).flatten(-2)  # [B, H, N, C, K·K]
    intra_kk = (gamma @ kk).unflatten(-1, (K, K))  # [B, H, N, C, K, K]
    w_kk, w_kv = (to_end * kb).mT @ kc, (to_end * kb).mT @ vc  # [B, H, N, K, K | V]
    decay = from_start[..., -1, :, :]  # [B, H, N, 1, 1]
    # the two states at each block start: a loop over blocks, then every solve at once
    starts = []
    for wkk_n, wkv_n, d_n in zip(w_kk.unbind(2), w_kv.unbind(2), decay.unbind(2),
                                 strict=True):
        starts.append((Hkk, Hkv))
        Hkk, Hkv = d_n * Hkk + wkk_n, d_n * Hkv + wkv_n
    Hkk0 = torch.stack([s[0] for s in starts], dim=2)  # [B, H, N, K, K]
    Hkv0 = torch.stack([s[1] for s in starts], dim=2)  # [B, H, N, K, V]
    reg = torch.diag_embed(lam.to(ct))[:, None, None]  # [H, 1, 1, K, K]
    x = torch.linalg.solve(from_start * Hkk0[..., None, :, :] + intra_kk + reg,
                           scale * qc)  # [B, H, N, C, K]
    o = from_start[..., 0] * (x @ Hkv0) + ((x @ kb.mT) * gamma) @ vc
    return contract.from_chunks(o, T).to(dtype), ((Hkk, Hkv) if output_final_state else None)


def mesa_rule_parallel(q: Tensor, k: Tensor, v: Tensor, g: Tensor, beta: Tensor, lam: Tensor,
                       *, scale: float, initial_state: State | None = None,
                       output_final_state: bool = False) -> tuple[Tensor, State | None]:
    """Quadratic form: the block equations once over all T steps."""
    return mesa_rule_chunk(q, k, v, g, beta, lam, scale=scale, initial_state=initial_state,
                           output_final_state=output_final_state,
                           chunk_size=max(1, q.shape[1]))


FORMS = {"recurrent": mesa_rule_recurrent, "parallel": mesa_rule_parallel,
         "chunk": mesa_rule_chunk}
