"""Gated sum rule: RetNet, GLA and Mamba2-style decaying fast weights.

Sun et al. 2023 (RetNet, constant scalar gate); Yang et al. 2024 (GLA, per-key gate);
Dao & Gu 2024 (Mamba2/SSD, data-dependent scalar gate).

    S_t = diag(α_t) S_{t-1} + k_t v_tᵀ,   α_t = exp(g_t) ∈ (0, 1]     S ∈ ℝ^{K×V} per head
    o_t = scale · S_tᵀ q_t                                          (read after write)

The log-gate g ≤ 0 is a scalar per head, [B, T, H] (α_t I), or one per key, [B, T, H, K]
(GLA: row κ of S decays by exp(g_tκ)). g = 0 is the sum rule.

| paper                          | argument               |
|--------------------------------|------------------------|
| query / key / value            | q, k, v                |
| decay α = e^g (γ in RetNet)    | g, [B,T,H] or [B,T,H,K] |
| fast weight W = Sᵀ             | state [B,H,K,V]        |

Forms. In a block of C steps from S₀ let b_t = Σ_{r≤t} g_r (restarted at each chunk, so all
exponents below are ≤ 0 and nothing overflows), and for a scalar gate Γ[t, s] = exp(b_t − b_s)
for s ≤ t, else 0:

    O   = scale · ((e^b ⊙ Q) S₀ + (Tril(Q Kᵀ) ⊙ Γ) V)
    S_C = diag(e^{b_C}) S₀ + (e^{b_C − b} ⊙ K)ᵀ V

With a per-key gate the intra-block scores are A[t, s] = Σ_κ q_tκ k_sκ exp(b_tκ − b_sκ),
formed in sub-chunks (``sum_rule.per_key_blocks``). ``chunk`` uses chunks of
``chunk_size``; with a scalar gate every chunk's S₀ is one matmul over the chunks, weighted
by exp(segsum) of the chunks' total log-decays (``sum_rule.chunk_states``), and with a
per-key gate it loops over chunks for S; ``parallel`` is one block of all T steps,
with pairwise decays from ``chunking.segsum`` so that long sequences keep full precision.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fastweights.ops import chunking, dispatch
from fastweights.ops.backends import fla
from fastweights.ops.spec import FAST_WEIGHTS, KEY, LOG_GATE, QUERY, VALUE, Arg, Rule
from fastweights.ops.sum_rule import chunk_sum, parallel_sum


def gated_sum_rule_recurrent(q: Tensor, k: Tensor, v: Tensor, g: Tensor, *, scale: float,
                             initial_state: Tensor | None = None,
                             output_final_state: bool = False) -> tuple[Tensor, Tensor | None]:
    """The reference: a plain loop over t in fp32 (fp64 stays fp64), nothing in place.

    q, k: [B, T, H, K]; v: [B, T, H, V]; g: [B, T, H] or [B, T, H, K] (log-gates ≤ 0);
    initial_state: [B, H, K, V] or None. Returns o [B, T, H, V] in q's dtype and
    S_T [B, H, K, V] in the compute dtype (or None).
    """
    B, T, H, K = q.shape
    V = v.shape[-1]
    dtype, ct = q.dtype, chunking.compute_dtype(q)
    # α as a column that scales the rows of S: [B, T, H, 1 or K, 1]
    alpha = (g[..., None] if g.dim() == 3 else g).to(ct).exp()[..., None]
    S = chunking.initial(initial_state, B, H, K, V, q, ct)
    outs = []
    for q_t, k_t, v_t, a_t in zip(*(x.to(ct).unbind(1) for x in (q, k, v, alpha)), strict=True):
        S = a_t * S + torch.einsum("bhk,bhv->bhkv", k_t, v_t)
        outs.append(scale * torch.einsum("bhk,bhkv->bhv", q_t, S))
    o = chunking.stack_steps(outs, B, H, V, q)
    return o.to(dtype), (S if output_final_state else None)


def gated_sum_rule_chunk(q: Tensor, k: Tensor, v: Tensor, g: Tensor, *, scale: float,
                         initial_state: Tensor | None = None, output_final_state: bool = False,
                         chunk_size: int = 64) -> tuple[Tensor, Tensor | None]:
    """Chunkwise form: same arguments and results as the reference."""
    return chunk_sum(q, k, v, g, scale=scale, initial_state=initial_state,
                     output_final_state=output_final_state, chunk_size=chunk_size)


def gated_sum_rule_parallel(q: Tensor, k: Tensor, v: Tensor, g: Tensor, *, scale: float,
                            initial_state: Tensor | None = None,
                            output_final_state: bool = False) -> tuple[Tensor, Tensor | None]:
    """Quadratic form (RetNet's parallel form; a per-key gate costs T²·K memory)."""
    return parallel_sum(q, k, v, g, scale=scale, initial_state=initial_state,
                        output_final_state=output_final_state)


def gated_sum_rule(q: Tensor, k: Tensor, v: Tensor, g: Tensor, *, scale: float | None = None,
                   initial_state: Tensor | None = None, output_final_state: bool = False,
                   form: str = "auto", chunk_size: int = 64,
                   cu_seqlens: Tensor | None = None,
                   backend: str = "auto") -> tuple[Tensor, Tensor | None]:
    """Gated sum-rule fast weights; g is a natural-log decay ≤ 0, [B, T, H] or [B, T, H, K].
    Shapes and semantics: see the module docstring and ``fastweights.ops.spec``."""
    return dispatch.call(RULE, (q, k, v, g), scale=scale, initial_state=initial_state,
                         output_final_state=output_final_state, form=form,
                         chunk_size=chunk_size, cu_seqlens=cu_seqlens, backend=backend)


RULE = Rule(
    name="gated_sum_rule",
    paper="Sun et al. 2023 (RetNet); Yang et al. 2024 (GLA); Dao & Gu 2024 (Mamba2)",
    recurrence="S_t = diag(α_t) S_{t-1} + k_t v_tᵀ, α_t = exp(g_t)",
    args=(QUERY, KEY, VALUE,
          Arg("g", ("B T H", "B T H K"), "log-decay g, α_t = exp(g_t): scalar per head or "
              "per key (GLA)", domain=LOG_GATE, kind="gate")),
    state=(FAST_WEIGHTS,),
    forms={"recurrent": gated_sum_rule_recurrent, "parallel": gated_sum_rule_parallel,
           "chunk": gated_sum_rule_chunk},
    fn=gated_sum_rule,
    kernels={"fla": {"chunk": fla.ByRank(3, {3: fla.Kernel("fla.ops.simple_gla",
                                                            "chunk_simple_gla"),
                                             4: fla.Kernel("fla.ops.gla", "chunk_gla")})}},
)
