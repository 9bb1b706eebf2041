"""Delta product rule: DeltaProduct (Siems et al. 2025).

Each token takes n_h delta-rule steps, each with its own key, value and β, and is read after
the last one: the transition is a product of n_h generalised Householder matrices.

    S_{t,0} = S_{t-1}
    S_{t,j} = (I − β_{t,j} k_{t,j} k_{t,j}ᵀ) S_{t,j-1} + β_{t,j} k_{t,j} v_{t,j}ᵀ,  j = 1..n_h
    S_t = S_{t,n_h},   o_t = scale · S_tᵀ q_t                     S ∈ ℝ^{K×V} per head

| paper                          | argument                 |
|--------------------------------|--------------------------|
| query                          | q [B, T, H, K]           |
| keys / values of the n_h steps | k [B, T, n_h, H, K], v [B, T, n_h, H, V] |
| step sizes β_{t,j}             | beta [B, T, n_h, H]      |
| fast weight W = Sᵀ             | state [B, H, K, V]       |

``chunk`` unrolls the n_h steps into a delta-rule sequence of length T·n_h, with the query
at the last step of each token and zero queries elsewhere, and runs ``delta_rule``'s chunk
kernel on it (equations in ``delta_rule``); ``chunk_size`` counts those unrolled steps.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fastweights.ops import chunking, dispatch
from fastweights.ops.delta_rule import chunk_delta, delta_step
from fastweights.ops.spec import BETA, FAST_WEIGHTS, QUERY, Arg, Rule


def delta_product_rule_recurrent(q: Tensor, k: Tensor, v: Tensor, beta: Tensor, *,
                                 scale: float, initial_state: Tensor | None = None,
                                 output_final_state: bool = False
                                 ) -> tuple[Tensor, Tensor | None]:
    """The reference: a plain loop over t and j in fp32 (fp64 stays fp64), nothing in place.

    q: [B, T, H, K]; k: [B, T, n_h, H, K]; v: [B, T, n_h, H, V]; beta: [B, T, n_h, H];
    initial_state: [B, H, K, V] or None. Returns o [B, T, H, V] in q's dtype and
    S_T [B, H, K, V] in the compute dtype (or None).
    """
    B, T, H, K = q.shape
    V = v.shape[-1]
    dtype, ct = q.dtype, chunking.compute_dtype(q)
    S = chunking.initial(initial_state, B, H, K, V, q, ct)
    outs = []
    for q_t, k_t, v_t, b_t in zip(*(x.to(ct).unbind(1) for x in (q, k, v, beta)), strict=True):
        for k_j, v_j, b_j in zip(k_t.unbind(1), v_t.unbind(1), b_t.unbind(1), strict=True):
            S = delta_step(S, k_j, v_j, b_j)
        outs.append(scale * torch.einsum("bhk,bhkv->bhv", q_t, S))
    o = chunking.stack_steps(outs, B, H, V, q)
    return o.to(dtype), (S if output_final_state else None)


def delta_product_rule_chunk(q: Tensor, k: Tensor, v: Tensor, beta: Tensor, *, scale: float,
                             initial_state: Tensor | None = None,
                             output_final_state: bool = False,
                             chunk_size: int = 64) -> tuple[Tensor, Tensor | None]:
    """Chunkwise form over the unrolled T·n_h steps: same arguments and results as the
    reference."""
    B, T, n_h, H, K = k.shape
    V = v.shape[-1]
    q_steps = torch.cat([q.new_zeros(B, T, n_h - 1, H, K), q[:, :, None]], dim=2)
    o, S = chunk_delta(q_steps.reshape(B, T * n_h, H, K), k.reshape(B, T * n_h, H, K),
                       v.reshape(B, T * n_h, H, V), beta.reshape(B, T * n_h, H), None,
                       scale=scale, initial_state=initial_state,
                       output_final_state=output_final_state, chunk_size=chunk_size)
    return o.reshape(B, T, n_h, H, V)[:, :, -1], S


def delta_product_rule(q: Tensor, k: Tensor, v: Tensor, beta: Tensor, *,
                       scale: float | None = None, initial_state: Tensor | None = None,
                       output_final_state: bool = False, form: str = "auto",
                       chunk_size: int = 64, cu_seqlens: Tensor | None = None,
                       backend: str = "auto") -> tuple[Tensor, Tensor | None]:
    """DeltaProduct fast weights: n_h delta steps per token (k, v: [B, T, n_h, H, ·],
    beta: [B, T, n_h, H]). Semantics: see the module docstring and ``fastweights.ops.spec``."""
    return dispatch.call(RULE, (q, k, v, beta), scale=scale, initial_state=initial_state,
                         output_final_state=output_final_state, form=form,
                         chunk_size=chunk_size, cu_seqlens=cu_seqlens, backend=backend)


RULE = Rule(
    name="delta_product_rule",
    paper="Siems et al. 2025 (DeltaProduct)",
    recurrence="S_{t,j} = (I − β_{t,j} k_{t,j} k_{t,j}ᵀ) S_{t,j-1} + β_{t,j} k_{t,j} "
               "v_{t,j}ᵀ for j = 1..n_h, S_{t,0} = S_{t-1}, S_t = S_{t,n_h}",
    args=(QUERY,
          Arg("k", ("B T n_h H K",), "keys of the n_h steps", unit_norm=True),
          Arg("v", ("B T n_h H V",), "values of the n_h steps"),
          Arg("beta", ("B T n_h H",), "write strengths of the n_h steps", domain=BETA,
              kind="gate")),
    state=(FAST_WEIGHTS,),
    forms={"recurrent": delta_product_rule_recurrent, "chunk": delta_product_rule_chunk},
    fn=delta_product_rule,
)
