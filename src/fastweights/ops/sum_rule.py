"""Sum rule: the linear transformer / vanilla fast weight programmer.

Katharopoulos et al. 2020; Schlag, Irie & Schmidhuber 2021 (the purely additive FWP).

    S_t = S_{t-1} + k_t v_tᵀ                      S ∈ ℝ^{K×V} per head
    o_t = scale · S_tᵀ q_t                         (read after write)

With ``normalize=True`` (attention normalisation) the key sum z_t = z_{t-1} + k_t is kept
as one more value column, so the state is [B, H, K, V+1] = [S | z], and

    o_t = S_tᵀ q_t / (z_tᵀ q_t + ε),               ε = 1e-6   (``scale`` cancels)

| paper                     | argument          |
|---------------------------|-------------------|
| query / key / value       | q, k, v           |
| fast weight W = Sᵀ        | state [B,H,K,V]   |
| normaliser z              | state[..., V]     |

Forms. For a block of C steps from state S₀ (rows Q, K, V ∈ ℝ^{C×·}):

    O   = scale · (Q S₀ + Tril(Q Kᵀ) V)
    S_C = S₀ + Kᵀ V

``parallel`` applies this once to the whole sequence; ``chunk`` applies it to chunks of
``chunk_size`` steps, all at once, with each chunk's S₀ the initial state plus an exclusive
cumulative sum of the earlier chunks' Kᵀ V. The kernels also take the log-gate of
``gated_sum_rule`` (equations there).
"""

from __future__ import annotations

import torch
from torch import Tensor

from fastweights.ops import contract

NORMALIZE_EPS = 1e-6


def sum_rule_recurrent(q: Tensor, k: Tensor, v: Tensor, *, scale: float,
                       initial_state: Tensor | None = None,
                       output_final_state: bool = False) -> tuple[Tensor, Tensor | None]:
    """The reference: a plain loop over t in fp32 (fp64 stays fp64), nothing in place.

    q, k: [B, T, H, K]; v: [B, T, H, V]; initial_state: [B, H, K, V] or None.
    Returns o [B, T, H, V] in q's dtype and S_T [B, H, K, V] in the compute dtype (or None).
    """
    B, T, H, K = q.shape
    dtype, ct = q.dtype, contract.compute_dtype(q)
    q, k, v = q.to(ct), k.to(ct), v.to(ct)
    S = (q.new_zeros(B, H, K, v.shape[-1]) if initial_state is None
         else initial_state.to(ct))
    outs = []
    for t in range(T):
        S = S + torch.einsum("bhk,bhv->bhkv", k[:, t], v[:, t])
        outs.append(scale * torch.einsum("bhk,bhkv->bhv", q[:, t], S))
    o = torch.stack(outs, dim=1) if outs else v.new_zeros(B, 0, H, v.shape[-1])
    return o.to(dtype), (S if output_final_state else None)


def sum_rule_chunk(q: Tensor, k: Tensor, v: Tensor, *, scale: float,
                   initial_state: Tensor | None = None, output_final_state: bool = False,
                   chunk_size: int = 64) -> tuple[Tensor, Tensor | None]:
    """Chunkwise form: same arguments and results as the reference."""
    return chunk_sum(q, k, v, None, scale=scale, initial_state=initial_state,
                     output_final_state=output_final_state, chunk_size=chunk_size)


def sum_rule_parallel(q: Tensor, k: Tensor, v: Tensor, *, scale: float,
                      initial_state: Tensor | None = None,
                      output_final_state: bool = False) -> tuple[Tensor, Tensor | None]:
    """Quadratic (attention-like) form: the block equations over the whole sequence."""
    return parallel_sum(q, k, v, None, scale=scale, initial_state=initial_state,
                        output_final_state=output_final_state)


FORMS = {"recurrent": sum_rule_recurrent, "parallel": sum_rule_parallel,
         "chunk": sum_rule_chunk}


def _initial(initial_state: Tensor | None, q: Tensor, V: int, ct: torch.dtype) -> Tensor:
    B, _, H, K = q.shape
    return (q.new_zeros(B, H, K, V, dtype=ct) if initial_state is None
            else initial_state.to(ct))


def chunk_sum(q: Tensor, k: Tensor, v: Tensor, g: Tensor | None, *, scale: float,
              initial_state: Tensor | None, output_final_state: bool,
              chunk_size: int) -> tuple[Tensor, Tensor | None]:
    """The chunk kernel, shared with ``gated_sum_rule``; g: None, [B, T, H] or [B, T, H, K]."""
    T, V = q.shape[1], v.shape[-1]
    dtype, ct = q.dtype, contract.compute_dtype(q)
    C = max(1, min(chunk_size, T))
    qc, kc, vc = (contract.to_chunks(x.to(ct), C) for x in (q, k, v))  # [B, H, N, C, ·]
    S0 = _initial(initial_state, q, V, ct)
    if g is None:
        dS = kc.mT @ vc  # [B, H, N, K, V]
        S_prev = S0.unsqueeze(2) + torch.cat([torch.zeros_like(dS[:, :, :1]),
                                               dS[:, :, :-1].cumsum(2)], dim=2)
        o = scale * (qc @ S_prev + (qc @ kc.mT).tril() @ vc)
        S = S0 + dS.sum(2) if output_final_state else None
        return contract.from_chunks(o, T).to(dtype), S
    # b: cumulative log-gate restarted at every chunk, so every exponent below is ≤ 0
    if g.dim() == 3:
        b = contract.to_chunks(g.to(ct), C).cumsum(-1)[..., None]  # [B, H, N, C, 1]
        A = (qc @ kc.mT) * contract.decay_matrix(b[..., 0])
    else:
        b = contract.to_chunks(g.to(ct), C).cumsum(-2)  # [B, H, N, C, K]
        A = intra_chunk_per_key(qc, kc, b)
    last = b[..., -1:, :]  # [B, H, N, 1, 1 or K]
    dS = (kc * (last - b).exp()).mT @ vc  # [B, H, N, K, V]
    decay = last.exp().mT  # [B, H, N, 1 or K, 1]
    # the inter-chunk part is read inside the loop so that autograd holds each state once
    inter, S = [], S0
    for q_n, dS_n, a_n in zip((qc * b.exp()).unbind(2), dS.unbind(2), decay.unbind(2),
                              strict=True):
        inter.append(q_n @ S)
        S = a_n * S + dS_n
    o = scale * (torch.stack(inter, dim=2) + A @ vc)
    return contract.from_chunks(o, T).to(dtype), (S if output_final_state else None)


def intra_chunk_per_key(q: Tensor, k: Tensor, b: Tensor, sub: int = 8) -> Tensor:
    """A[t, s] = Σ_κ q_tκ k_sκ exp(b_tκ − b_sκ) for s ≤ t (else 0), batched over [..., C, K].

    No exponent may be positive (it could overflow), so (GLA, Yang et al. 2024) the chunk is
    cut into sub-chunks of ``sub`` steps. Inside a sub-chunk the C·sub·K pairwise terms are
    formed directly. Between sub-chunk j and a later sub-chunk i the decay is split at r_i,
    b just before sub-chunk i starts: exp(b_t − b_s) = exp(b_t − r_i) · exp(r_i − b_s), two
    factors ≤ 1, and the block is a matmul.
    """
    C, K = b.shape[-2:]
    if C % sub:
        sub = C
    n = C // sub
    lead = b.shape[:-2]
    qs, ks, bs = (x.reshape(*lead, n, sub, K) for x in (q, k, b))  # [..., n, sub, K]
    lower = torch.ones(sub, sub, dtype=torch.bool, device=b.device).tril()
    diff = (bs[..., :, None, :] - bs[..., None, :, :])  # [..., n, t, s, K]
    diff = diff.masked_fill(~lower[..., None], float("-inf"))
    diag = torch.einsum("...itk,...isk,...itsk->...its", qs, ks, diff.exp())
    if n == 1:
        return diag.reshape(*lead, C, C)
    r = torch.cat([bs[..., :1, 0, :], bs[..., :-1, -1, :]], dim=-2)  # [..., n, K]
    q_dec = qs * (bs - r[..., :, None, :]).exp()  # [..., i, t, K]
    earlier = torch.ones(n, n, dtype=torch.bool, device=b.device).tril(-1)  # j < i
    k_exp = (r[..., :, None, None, :] - bs[..., None, :, :, :])  # [..., i, j, s, K]
    k_exp = k_exp.masked_fill(~earlier[:, :, None, None], float("-inf"))
    k_dec = ks[..., None, :, :, :] * k_exp.exp()  # [..., i, j, s, K]
    off = torch.einsum("...itk,...ijsk->...itjs", q_dec, k_dec)  # [..., i, t, j, s]
    eye = torch.eye(n, dtype=b.dtype, device=b.device)
    full = off + diag[..., :, :, None, :] * eye[:, None, :, None]
    return full.reshape(*lead, C, C)


def parallel_sum(q: Tensor, k: Tensor, v: Tensor, g: Tensor | None, *, scale: float,
                 initial_state: Tensor | None,
                 output_final_state: bool) -> tuple[Tensor, Tensor | None]:
    """The block equations over all T steps at once; shared with ``gated_sum_rule``.

    Decays come from ``contract.segsum`` (summed pair by pair, exact on long sequences).
    """
    B, T, H, K = q.shape
    V = v.shape[-1]
    dtype, ct = q.dtype, contract.compute_dtype(q)
    qh, kh, vh = (x.to(ct).movedim(2, 1) for x in (q, k, v))  # [B, H, T, ·]
    S0 = _initial(initial_state, q, V, ct)
    if g is None:
        o = scale * (qh @ S0 + (qh @ kh.mT).tril() @ vh)
        S = S0 + kh.mT @ vh if output_final_state else None
        return o.movedim(1, 2).to(dtype), S
    # a zero gate in front: row/column 0 of the segsum measure decay from the start
    g0 = torch.cat([g.new_zeros(B, 1, *g.shape[2:]), g], 1).to(ct).movedim(1, -1)
    seg = contract.segsum(g0)  # [B, H, (K,) T+1, T+1]
    if g.dim() == 3:
        A = (qh @ kh.mT) * seg[..., 1:, 1:].exp()
        from_start = seg[..., 1:, 0, None].exp()  # [B, H, T, 1]
        to_end = seg[..., -1, 1:, None].exp()
        decay = from_start[..., -1:, :] if T else S0.new_ones(1, 1)
    else:
        A = torch.einsum("bhtk,bhsk,bhkts->bhts", qh, kh, seg[..., 1:, 1:].exp())
        from_start = seg[..., 1:, 0].exp().mT  # [B, H, T, K]
        to_end = seg[..., -1, 1:].exp().mT
        decay = from_start[..., -1, :, None] if T else S0.new_ones(K, 1)
    o = scale * ((qh * from_start) @ S0 + A @ vh)
    S = decay * S0 + (kh * to_end).mT @ vh if output_final_state else None
    return o.movedim(1, 2).to(dtype), S


def sum_rule(q: Tensor, k: Tensor, v: Tensor, *, normalize: bool = False,
             scale: float | None = None, initial_state: Tensor | None = None,
             output_final_state: bool = False, form: str = "auto", chunk_size: int = 64,
             cu_seqlens: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
    """Sum-rule fast weights. Shapes and semantics: see the module docstring and
    ``fastweights.ops.contract``. With ``normalize=True`` the state carries z as column V."""
    B, T, H, K, V = contract.check_qkv(q, k, v)
    contract.check_chunk_size(chunk_size)
    n = contract.check_cu_seqlens(cu_seqlens, B, T)
    contract.check_state(initial_state, n, H, K, V + 1 if normalize else V, q)
    scale = K**-0.5 if scale is None else scale
    if normalize:
        v = torch.cat([v, v.new_ones(B, T, H, 1)], dim=-1)
    o, S = contract.dispatch(FORMS, form, (q, k, v), T=T, scale=scale, chunk_size=chunk_size,
                             initial_state=initial_state,
                             output_final_state=output_final_state, cu_seqlens=cu_seqlens)
    if normalize:
        o = o[..., :V] / (o[..., V:] + scale * NORMALIZE_EPS)
    return o.to(q.dtype), S
