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
formed in sub-chunks (``sum_rule.intra_chunk_per_key``). ``chunk`` uses chunks of
``chunk_size`` and loops over chunks only for S; ``parallel`` is one block of all T steps,
with pairwise decays from ``contract.segsum`` so that long sequences keep full precision.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fastweights.ops import contract
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
    dtype, ct = q.dtype, contract.compute_dtype(q)
    q, k, v, g = q.to(ct), k.to(ct), v.to(ct), g.to(ct)
    # α as a column that scales the rows of S: [B, T, H, 1 or K, 1]
    alpha = (g[..., None] if g.dim() == 3 else g).exp()[..., None]
    S = (q.new_zeros(B, H, K, v.shape[-1]) if initial_state is None
         else initial_state.to(ct))
    outs = []
    for t in range(T):
        S = alpha[:, t] * S + torch.einsum("bhk,bhv->bhkv", k[:, t], v[:, t])
        outs.append(scale * torch.einsum("bhk,bhkv->bhv", q[:, t], S))
    o = torch.stack(outs, dim=1) if outs else v.new_zeros(B, 0, H, v.shape[-1])
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


FORMS = {"recurrent": gated_sum_rule_recurrent, "parallel": gated_sum_rule_parallel,
         "chunk": gated_sum_rule_chunk}


def gated_sum_rule(q: Tensor, k: Tensor, v: Tensor, g: Tensor, *, scale: float | None = None,
                   initial_state: Tensor | None = None, output_final_state: bool = False,
                   form: str = "auto", chunk_size: int = 64,
                   cu_seqlens: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
    """Gated sum-rule fast weights; g is a natural-log decay ≤ 0, [B, T, H] or [B, T, H, K].
    Shapes and semantics: see the module docstring and ``fastweights.ops.contract``."""
    B, T, H, K, V = contract.check_qkv(q, k, v)
    contract.check_log_gate("g", g, q, per_key=True)
    contract.check_chunk_size(chunk_size)
    n = contract.check_cu_seqlens(cu_seqlens, B, T)
    contract.check_state(initial_state, n, H, K, V, q)
    return contract.dispatch(FORMS, form, (q, k, v, g), T=T, scale=K**-0.5 if scale is None
                             else scale, chunk_size=chunk_size, initial_state=initial_state,
                             output_final_state=output_final_state, cu_seqlens=cu_seqlens)
