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
cumulative sum of the earlier chunks' Kᵀ V, taken as one matmul (``chunk_states``). The
kernels also take the log-gate of ``gated_sum_rule`` (equations there).
"""

from __future__ import annotations

import torch
from torch import Tensor

from fastweights.ops import checks, chunking, dispatch
from fastweights.ops.backends import fla
from fastweights.ops.spec import KEY, QUERY, VALUE, Option, Rule, State

NORMALIZE_EPS = 1e-6


def sum_rule_recurrent(q: Tensor, k: Tensor, v: Tensor, *, scale: float,
                       initial_state: Tensor | None = None,
                       output_final_state: bool = False) -> tuple[Tensor, Tensor | None]:
    """The reference: a plain loop over t in fp32 (fp64 stays fp64), nothing in place.

    q, k: [B, T, H, K]; v: [B, T, H, V]; initial_state: [B, H, K, V] or None.
    Returns o [B, T, H, V] in q's dtype and S_T [B, H, K, V] in the compute dtype (or None).
    """
    B, T, H, K = q.shape
    V = v.shape[-1]
    dtype, ct = q.dtype, chunking.compute_dtype(q)
    S = chunking.initial(initial_state, B, H, K, V, q, ct)
    outs = []
    for q_t, k_t, v_t in zip(*(x.to(ct).unbind(1) for x in (q, k, v)), strict=True):
        S = S + torch.einsum("bhk,bhv->bhkv", k_t, v_t)
        outs.append(scale * torch.einsum("bhk,bhkv->bhv", q_t, S))
    o = chunking.stack_steps(outs, B, H, V, q)
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


def chunk_sum(q: Tensor, k: Tensor, v: Tensor, g: Tensor | None, *, scale: float,
              initial_state: Tensor | None, output_final_state: bool,
              chunk_size: int) -> tuple[Tensor, Tensor | None]:
    """The chunk kernel, shared with ``gated_sum_rule``; g: None, [B, T, H] or [B, T, H, K]."""
    T = q.shape[1]
    dtype, ct = q.dtype, chunking.compute_dtype(q)
    C = max(1, min(chunk_size, T))
    qc, kc, vc = (chunking.to_chunks(x.to(ct), C) for x in (q, k, v))  # [B, H, N, C, ·]
    S0 = None if initial_state is None else initial_state.to(ct)
    log_decay = None  # [B, H, N]: each chunk's total log-decay (scalar gates)
    if g is None:
        q_in, k_in = qc, kc
        A = chunking.tril_(qc @ kc.mT)
    else:
        gc = chunking.to_chunks(g.to(ct), C)  # [B, H, N, C] or [B, H, N, C, K]
        gc = gc[..., None] if g.dim() == 3 else gc  # [B, H, N, C, 1 or K]
        # b: log-decay from the chunk start through step t
        b = gc.cumsum(-2)
        if chunking.factored_decays_ok(b):
            # e^{b_t − b_s} = e^{b_t} e^{−b_s}: one masked matmul, no pairwise tensor
            eb, e_neg = b.exp(), (-b).exp()
            q_in, total = qc * eb, eb[..., -1:, :]  # total: e^{b_C}, [B, H, N, 1, 1 or K]
            A = chunking.tril_(q_in @ (kc * e_neg).mT)
            k_in = kc * (e_neg * total)
            if g.dim() == 4:
                intra, decay = A @ vc, total.mT  # decay [B, H, N, K, 1]
        elif g.dim() == 3:
            # every exponent below is ≤ 0 and summed without differences (chunk_decays, segsum)
            b, c = chunking.chunk_decays(gc[..., 0])
            A = (qc @ kc.mT) * chunking.segsum(gc[..., 0]).exp()
            q_in, k_in = qc * b.exp()[..., None], kc * c.exp()[..., None]
            b = b[..., None]
        else:
            intra, q_in, k_in, decay = per_key_blocks(qc, kc, vc, gc)  # decay [B, H, N, K, 1]
        if g.dim() == 4:
            return _per_key_inter(q_in, k_in, vc, decay, intra, S0, scale, T, dtype,
                                  output_final_state)
        log_decay = b[..., -1, 0]
    dS = k_in.mT @ vc  # [B, H, N, K, V]: each chunk's write, decayed to the chunk's end
    S_prev, S = chunk_states(dS, S0, log_decay, output_final_state)
    o = chunking.matmul_add(q_in @ S_prev, A, vc, beta=scale, alpha=scale)
    return chunking.from_chunks(o, T).to(dtype), S


def chunk_states(dS: Tensor, S0: Tensor | None, log_decay: Tensor | None, final: bool
                 ) -> tuple[Tensor, Tensor | None]:
    """Every chunk's starting state, and the final one, as one matmul over the chunks.

    dS: [B, H, N, K, V] (chunk n's write, decayed to its end), S0 [B, H, K, V] (None: zero),
    log_decay l: [B, H, N] (chunk n's total log-decay; None: no decay). With
    l̃ = [0, l_0, …, l_{N−1}] and W = exp(segsum(l̃)), [N+1, N+1] (``chunking.segsum``: exact
    sums, −∞ above the diagonal),

        S_prev[n] = W[n, 0] S₀ + Σ_{j<n} W[n, j+1] dS_j,    W[n, j+1] = exp(Σ_{j<m<n} l_m)

    and the final state is row N. Without decay W is the lower-triangular ones.
    """
    B, H, N, K, V = dS.shape
    flat = dS.view(B, H, N, K * V)
    if log_decay is None:
        W = torch.ones(N + 1, N + 1, dtype=dS.dtype, device=dS.device).tril()
    else:
        W = chunking.segsum(torch.cat([log_decay.new_zeros(B, H, 1), log_decay], -1)).exp()

    def states(rows: slice) -> Tensor:  # W's rows times [S₀; dS_0 … dS_{N−1}]
        w = W[..., rows, :]
        out = w[..., 1:] @ flat
        return out if S0 is None else out + w[..., :1] * S0.reshape(B, H, 1, K * V)

    S = states(slice(N, N + 1)).view(B, H, K, V) if final else None
    return states(slice(0, N)).view_as(dS), S


def _per_key_inter(q_in: Tensor, k_in: Tensor, vc: Tensor, decay: Tensor, intra: Tensor,
                   S0: Tensor | None, scale: float, T: int, dtype: torch.dtype, final: bool
                   ) -> tuple[Tensor, Tensor | None]:
    """The per-key gated chunk form's state pass: a loop over chunks (decays are per row)."""
    B, H, _, K, V = *k_in.shape[:3], k_in.shape[-1], vc.shape[-1]
    S0 = k_in.new_zeros(B, H, K, V) if S0 is None else S0
    dS = k_in.mT @ vc  # [B, H, N, K, V]
    # the inter-chunk part is read inside the loop so that autograd holds each state once
    inter, S = [], S0
    for q_n, dS_n, a_n in zip(q_in.unbind(2), dS.unbind(2), decay.unbind(2), strict=True):
        inter.append(q_n @ S)
        S = a_n * S + dS_n
    o = scale * (torch.stack(inter, dim=2) + intra)
    return chunking.from_chunks(o, T).to(dtype), (S if final else None)


def per_key_blocks(q: Tensor, k: Tensor, v: Tensor, g: Tensor
                   ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The intra-chunk part of the per-key gated (GLA) chunk form, without any [C, C, K] tensor.

    q, k, g: [..., C, K], v: [..., C, V] (one chunk per leading index). Returns

        O_intra[t] = Σ_{s≤t} Σ_κ q_tκ k_sκ exp(Σ_{s<r≤t} g_rκ) v_s      [..., C, V]

    and, for the state pass, e^{b} ⊙ Q, e^{c} ⊙ K (b_t = Σ_{r≤t} g_r, c_s = Σ_{s<r≤C} g_r)
    and e^{b_C} [..., K, 1].

    Secondary chunking by halving (GLA's sub-chunks, Yang et al. 2024, taken down to single
    steps): a pair s < t is split at exactly one level, the block size h at which t and s
    first fall into different halves of one 2h-block. There the decay factors at the half
    boundary, exp(Σ_{s<r≤t} g) = e^{b⁽ʰ⁾_t} · e^{c⁽ʰ⁾_s}, with b⁽ʰ⁾ summed from the start of
    t's half and c⁽ʰ⁾ from after s to the end of s's half, both ≤ 1, and the block is one
    batched matmul [h, K] × [K, h]: log₂ C levels, C²K/2 multiply-adds in all. The factors
    of level 2h are those of level h times the other half's total, e^{b⁽²ʰ⁾} = e^{b⁽ʰ⁾} ·
    e^{total of the first half} on the second half (and likewise for c): products of
    factors ≤ 1 grown from e^{g}, never a difference of sums, so a large |g| costs no
    precision and nothing overflows.
    """
    C, K = g.shape[-2:]
    # zero steps appended to the chunk (neutral: no write, no decay) make it a power of two
    P = 1 << (C - 1).bit_length()
    if P > C:
        q, k, v, g = (torch.cat([x, x.new_zeros(*x.shape[:-2], P - C, x.shape[-1])], -2)
                      for x in (q, k, v, g))
    lead, V = g.shape[:-2], v.shape[-1]
    eb, ec = g.exp(), None  # level h = 1: e^{b⁽¹⁾} = e^{g}, e^{c⁽¹⁾} = 1
    o = (q * k).sum(-1, keepdim=True) * v  # the diagonal, [..., P, V]
    h = 1
    while h < P:
        m = P // (2 * h)
        q2, k2, v2, eb2 = (x.reshape(*lead, m, 2, h, x.shape[-1]) for x in (q, k, v, eb))
        qs = q2[..., 1, :, :] * eb2[..., 1, :, :]  # [..., m, h, K]
        ks = k2[..., 0, :, :]
        if ec is not None:
            ec2 = ec.reshape(*lead, m, 2, h, K)
            ks = ks * ec2[..., 0, :, :]
        if h == 1:
            add = (qs * ks).sum(-1, keepdim=True) * v2[..., 0, :, :]
        else:
            add = (qs @ ks.mT) @ v2[..., 0, :, :]  # [..., m, h, V]
        o2 = o.reshape(*lead, m, 2, h, V)
        o = torch.stack([o2[..., 0, :, :], o2[..., 1, :, :] + add], dim=-3)
        # level 2h: the second half's b and the first half's c extend over the other half
        first, second = eb2[..., 0, -1:, :], eb2[..., 1, -1:, :]  # the halves' totals
        eb = torch.stack([eb2[..., 0, :, :], eb2[..., 1, :, :] * first], dim=-3)
        if ec is None:
            ec = torch.stack([second, torch.ones_like(second)], dim=-3)  # h = 1
        else:
            ec = torch.stack([ec2[..., 0, :, :] * second, ec2[..., 1, :, :]], dim=-3)
        h *= 2
    q_in = (q * eb.reshape(*lead, P, K))[..., :C, :]
    k_in = k[..., :C, :] if ec is None else (k * ec.reshape(*lead, P, K))[..., :C, :]
    decay = eb.reshape(*lead, P, K)[..., -1, :, None]  # e^{b_C}, [..., K, 1]
    return o.reshape(*lead, P, V)[..., :C, :], q_in, k_in, decay


def parallel_sum(q: Tensor, k: Tensor, v: Tensor, g: Tensor | None, *, scale: float,
                 initial_state: Tensor | None,
                 output_final_state: bool) -> tuple[Tensor, Tensor | None]:
    """The block equations over all T steps at once; shared with ``gated_sum_rule``.

    Decays come from ``chunking.segsum`` (summed pair by pair, exact on long sequences).
    """
    B, T, H, K = q.shape
    V = v.shape[-1]
    dtype, ct = q.dtype, chunking.compute_dtype(q)
    qh, kh, vh = (x.to(ct).movedim(2, 1) for x in (q, k, v))  # [B, H, T, ·]
    S0 = chunking.initial(initial_state, q.shape[0], q.shape[2], q.shape[3], V, q, ct)
    if g is None:
        o = scale * (qh @ S0 + chunking.tril_(qh @ kh.mT) @ vh)
        S = S0 + kh.mT @ vh if output_final_state else None
        return o.movedim(1, 2).to(dtype), S
    # a zero gate in front: row/column 0 of the segsum measure decay from the start
    g0 = torch.cat([g.new_zeros(B, 1, *g.shape[2:]), g], 1).to(ct).movedim(1, -1)
    seg = chunking.segsum(g0)  # [B, H, (K,) T+1, T+1]
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
             cu_seqlens: Tensor | None = None,
             backend: str = "auto") -> tuple[Tensor, Tensor | None]:
    """Sum-rule fast weights. Shapes and semantics: see the module docstring and
    ``fastweights.ops.spec``. With ``normalize=True`` the state carries z as column V."""
    tensors = (q, k, v)
    dims = checks.validate(RULE, tensors, initial_state=initial_state, cu_seqlens=cu_seqlens,
                           chunk_size=chunk_size, scale=scale, options={"normalize": normalize})
    if checks.values_checked(q.device):
        checks.check_values(RULE, tensors, initial_state)
    scale = dims["K"] ** -0.5 if scale is None else scale
    V = dims["V"]
    if normalize:
        # z is one more value column that is always 1: the forms need not know about it
        tensors = (q, k, torch.cat([v, v.new_ones(*v.shape[:3], 1)], dim=-1))
        dims = dims | {"V": V + 1}
    o, S = dispatch.execute(RULE, tensors, dims, scale=scale, initial_state=initial_state,
                            output_final_state=output_final_state, form=form,
                            chunk_size=chunk_size, cu_seqlens=cu_seqlens, backend=backend)
    if normalize:
        o = o[..., :V] / (o[..., V:] + scale * NORMALIZE_EPS)
    return o.to(q.dtype), S


RULE = Rule(
    name="sum_rule",
    paper="Katharopoulos et al. 2020; Schlag, Irie & Schmidhuber 2021 (linear transformer)",
    recurrence="S_t = S_{t-1} + k_t v_tᵀ",
    args=(QUERY, KEY, VALUE),
    state=(State("S", "N H K V", "fast weights (W = Sᵀ); [S | z], one more column, with "
                 "normalize=True", extra={"V": "normalize"}),),
    forms={"recurrent": sum_rule_recurrent, "parallel": sum_rule_parallel,
           "chunk": sum_rule_chunk},
    fn=sum_rule,
    kernels={"fla": {"chunk": fla.Kernel("fla.ops.linear_attn", "chunk_linear_attn",
                                         {"normalize": False}, varlen=False)}},
    options=(Option("normalize", False, (False, True),
                    "attention normalisation: o_t = S_tᵀq_t / (z_tᵀq_t + ε), z_t = Σ k",
                    positive=("q", "k")),),
)
