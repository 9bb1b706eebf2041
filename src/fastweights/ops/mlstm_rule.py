"""mLSTM: the matrix-memory LSTM of xLSTM (Beck et al. 2024, eqs. 19–27 with the
stabiliser of appendix eqs. 15–17; the recurrent step of the authors' ``mlstm_kernels``).

Exponential input gate ĩ, sigmoid forget gate taken in log space, and a stabiliser state m:

    m_t = max(log σ(f̃_t) + m_{t−1}, ĩ_t)
    f'_t = exp(log σ(f̃_t) + m_{t−1} − m_t),   i'_t = exp(ĩ_t − m_t)
    C_t = f'_t C_{t−1} + i'_t k_t v_tᵀ          C ∈ ℝ^{K×V} per head
    n_t = f'_t n_{t−1} + i'_t k_t               n ∈ ℝ^K
    h_t = C_tᵀ q̂_t / (max(|n_tᵀ q̂_t|, e^{−m_t}) + ε),   q̂_t = scale · q_t   (read after write)

C and n are the paper's cell and normaliser divided by e^{m_t}; with ε = 0, h_t is the
paper's unstabilised C_tᵀq̂_t / max(|n_tᵀq̂_t|, 1) whatever m is. ε makes h depend on m, so
every form below uses the reference's m_t, step by step. The paper scales k by 1/√K; here
(as in ``mlstm_kernels``) ``scale`` = K^{-1/2} scales q, which gives the same h.

| paper                               | argument                          |
|-------------------------------------|-----------------------------------|
| query / key / value                 | q, k, v                           |
| input-gate pre-activation ĩ         | i [B, T, H]                       |
| forget-gate pre-activation f̃        | f [B, T, H]                       |
| cell C, normaliser n, stabiliser m  | state (C [B,H,K,V], n [B,H,K], m [B,H]) |

Forms. Let F_t = Σ_{r≤t} log σ(f̃_r) inside a block of C steps that starts from (C₀, n₀, m₀),
and L[t, s] = Σ_{s<r≤t} log σ(f̃_r) + ĩ_s for s ≤ t (−∞ above the diagonal; summed pair by
pair with ``chunking.segsum``). Unrolling the recurrence gives m_t in closed form and every
weight as an exponent that is ≤ 0:

    m_t = max(m₀ + F_t, max_{s≤t} L[t, s])
    [C_t | n_t] = e^{m₀ + F_t − m_t} [C₀ | n₀] + Σ_{s≤t} e^{L[t, s] − m_t} k_s [v_s | 1]ᵀ
    [num_t | den_t] = q̂_tᵀ [C_t | n_t]

so ``chunk`` is GLA-like: the normaliser is one more value column, the decays are
log-space segment sums, and the exponentials are re-centred by the running maximum m_t (a
maximum per step of each chunk) — nothing overflows where the unstabilised products
e^{ĩ_s − F_s} · e^{F_t} would (|ĩ|, |f̃| of 50 in fp32). Only the C-by-C blocks and a
loop over chunks for [C | n] and m remain. ``parallel`` is the same with one block of all
T steps: the stabilised quadratic form of the paper (appendix eqs. 23–27), whose row
maximum here also includes the carried term m₀ + F_t so that it equals the recurrence.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from fastweights.ops import chunking, dispatch
from fastweights.ops.spec import KEY, QUERY, REAL, VALUE, Arg, Rule, State

EPS = 1e-6

Cell = tuple[Tensor, Tensor, Tensor]


def _initial(initial_state: Cell | None, B: int, H: int, K: int, V: int,
             like: Tensor) -> Cell:
    if initial_state is None:
        return (like.new_zeros(B, H, K, V), like.new_zeros(B, H, K), like.new_zeros(B, H))
    return tuple(s.to(like.dtype) for s in initial_state)


def mlstm_rule_recurrent(q: Tensor, k: Tensor, v: Tensor, i: Tensor, f: Tensor, *,
                         scale: float, initial_state: Cell | None = None,
                         output_final_state: bool = False) -> tuple[Tensor, Cell | None]:
    """The reference: a plain loop over t in fp32 (fp64 stays fp64), nothing in place.

    q, k: [B, T, H, K]; v: [B, T, H, V]; i, f: gate pre-activations [B, T, H];
    initial_state: (C [B, H, K, V], n [B, H, K], m [B, H]) or None (zeros). Returns
    h [B, T, H, V] in q's dtype and (C, n, m) at T in the compute dtype (or None).
    """
    B, T, H, K = q.shape
    V = v.shape[-1]
    dtype, ct = q.dtype, chunking.compute_dtype(q)
    q, k, v, i, f = (x.to(ct) for x in (q, k, v, i, f))
    log_f = F.logsigmoid(f)
    C, n, m = _initial(initial_state, B, H, K, V, q)
    outs = []
    for q_t, k_t, v_t, i_t, lf_t in zip(q.unbind(1), k.unbind(1), v.unbind(1), i.unbind(1),
                                        log_f.unbind(1), strict=True):
        m_new = torch.maximum(lf_t + m, i_t)  # [B, H]
        f_act = (lf_t + m - m_new).exp()[..., None]
        i_act = (i_t - m_new).exp()[..., None]
        C = f_act[..., None] * C + i_act[..., None] * torch.einsum("bhk,bhv->bhkv", k_t, v_t)
        n = f_act * n + i_act * k_t
        m = m_new
        q_s = scale * q_t
        num = torch.einsum("bhk,bhkv->bhv", q_s, C)
        den = torch.einsum("bhk,bhk->bh", q_s, n)[..., None]
        outs.append(num / (torch.maximum(den.abs(), (-m)[..., None].exp()) + EPS))
    o = chunking.stack_steps(outs, B, H, V, v)
    return o.to(dtype), ((C, n, m) if output_final_state else None)


def mlstm_rule_chunk(q: Tensor, k: Tensor, v: Tensor, i: Tensor, f: Tensor, *, scale: float,
                     initial_state: Cell | None = None, output_final_state: bool = False,
                     chunk_size: int = 64) -> tuple[Tensor, Cell | None]:
    """Chunkwise form (GLA-like, stabilised per step): same arguments and results as the
    reference."""
    B, T, H, K = q.shape
    V = v.shape[-1]
    dtype, ct = q.dtype, chunking.compute_dtype(q)
    C0, n0, m0 = _initial(initial_state, B, H, K, V, q.to(ct))
    if T == 0:
        o = v.new_zeros(B, 0, H, V)
        return o, ((C0, n0, m0) if output_final_state else None)
    Cs = max(1, min(chunk_size, T))
    qc, kc = (chunking.to_chunks(x.to(ct), Cs) for x in (q, k))  # [B, H, N, C, K]
    # [v | 1]: the normaliser n is one more value column of the cell
    vc = chunking.to_chunks(torch.cat([v.to(ct), v.new_ones(B, T, H, 1, dtype=ct)], -1), Cs)
    # padded steps are neutral: log σ(f̃) = 0 (no decay), ĩ = −∞ (no write)
    log_f = chunking.to_chunks(F.logsigmoid(f.to(ct)), Cs)  # [B, H, N, C]
    valid = chunking.to_chunks(i.new_ones(B, T, H, dtype=torch.bool), Cs)
    ic = chunking.to_chunks(i.to(ct), Cs).masked_fill(~valid, float("-inf"))
    # a zero gate in front: column 0 of the segsum is F_t, the decay from the block start
    seg = chunking.segsum(torch.cat([torch.zeros_like(log_f[..., :1]), log_f], -1))
    F_t = seg[..., 1:, 0]  # [B, H, N, C]
    L = seg[..., 1:, 1:] + ic[..., None, :]  # [B, H, N, C, C]
    row_max = L.amax(-1)  # [B, H, N, C]
    # the stabiliser at each block start: m ← max(m + F_C, max_s L[C, s]), a loop over blocks
    starts, m = [], m0
    for F_end, a in zip(F_t[..., -1].unbind(2), row_max[..., -1].unbind(2), strict=True):
        starts.append(m)
        m = torch.maximum(m + F_end, a)
    m_start = torch.stack(starts, dim=2)  # [B, H, N]
    m_t = torch.maximum(m_start[..., None] + F_t, row_max)  # [B, H, N, C]
    carry = (m_start[..., None] + F_t - m_t).exp()[..., None]  # [B, H, N, C, 1]
    D = (L - m_t[..., None]).exp()  # [B, H, N, C, C]
    w_end = (L[..., -1, :] - m_t[..., -1:]).exp()[..., None]  # [B, H, N, C, 1]
    writes = (kc * w_end).mT @ vc  # [B, H, N, K, V + 1]
    decay = carry[..., -1:, :]  # [B, H, N, 1, 1]
    qs = scale * qc
    # the cell at each block start, read inside the loop so autograd holds each one once
    inter, S = [], torch.cat([C0, n0[..., None]], -1)  # [B, H, K, V + 1]
    for q_n, w_n, a_n in zip(qs.unbind(2), writes.unbind(2), decay.unbind(2), strict=True):
        inter.append(q_n @ S)
        S = a_n * S + w_n
    nd = carry * torch.stack(inter, dim=2) + ((qs @ kc.mT) * D) @ vc  # [B, H, N, C, V + 1]
    h = nd[..., :V] / (torch.maximum(nd[..., V:].abs(), (-m_t)[..., None].exp()) + EPS)
    state = (S[..., :V], S[..., V], m) if output_final_state else None
    return chunking.from_chunks(h, T).to(dtype), state


def mlstm_rule_parallel(q: Tensor, k: Tensor, v: Tensor, i: Tensor, f: Tensor, *,
                        scale: float, initial_state: Cell | None = None,
                        output_final_state: bool = False) -> tuple[Tensor, Cell | None]:
    """The stabilised quadratic form: the block equations once over all T steps."""
    return mlstm_rule_chunk(q, k, v, i, f, scale=scale, initial_state=initial_state,
                            output_final_state=output_final_state,
                            chunk_size=max(1, q.shape[1]))


def mlstm_rule(q: Tensor, k: Tensor, v: Tensor, i: Tensor, f: Tensor, *,
               scale: float | None = None, initial_state: Cell | None = None,
               output_final_state: bool = False, form: str = "auto", chunk_size: int = 64,
               cu_seqlens: Tensor | None = None,
               backend: str = "auto") -> tuple[Tensor, Cell | None]:
    """mLSTM memory; i, f are the gate pre-activations [B, T, H]; the state is (C, n, m).
    Shapes and semantics: see the module docstring and ``fastweights.ops.spec``."""
    return dispatch.call(RULE, (q, k, v, i, f), scale=scale, initial_state=initial_state,
                         output_final_state=output_final_state, form=form,
                         chunk_size=chunk_size, cu_seqlens=cu_seqlens, backend=backend)


RULE = Rule(
    name="mlstm_rule",
    paper="Beck et al. 2024 (xLSTM: the mLSTM, eqs. 19–27, stabilised)",
    recurrence="m_t = max(log σ(f_t) + m_{t-1}, i_t); C_t = e^{log σ(f_t) + m_{t-1} − m_t} "
               "C_{t-1} + e^{i_t − m_t} k_t v_tᵀ; n_t likewise with k_t; "
               "h_t = C_tᵀq_t / (max(|n_tᵀq_t|, e^{−m_t}) + ε)",
    args=(QUERY, KEY, VALUE,
          # a neutral step: ĩ = −1e4 writes e^{−1e4 − m} = 0, f̃ = 1e4 has log σ(f̃) = 0
          Arg("i", ("B T H",), "input-gate pre-activation ĩ (exponential gate)", domain=REAL,
              neutral=-1e4, kind="gate"),
          Arg("f", ("B T H",), "forget-gate pre-activation f̃ (sigmoid gate)", domain=REAL,
              neutral=1e4, kind="gate")),
    state=(State("C", "N H K V", "cell, divided by e^m"),
           State("n", "N H K", "normaliser, divided by e^m"),
           State("m", "N H", "stabiliser (log scale of C and n)")),
    forms={"recurrent": mlstm_rule_recurrent, "parallel": mlstm_rule_parallel,
           "chunk": mlstm_rule_chunk},
    fn=mlstm_rule,
)
