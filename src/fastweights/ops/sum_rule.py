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


FORMS = {"recurrent": sum_rule_recurrent}


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
    name = contract.resolve_form(form, T, tuple(FORMS), chunk_size)
    impl = FORMS[name]
    scale = K**-0.5 if scale is None else scale
    if normalize:
        v = torch.cat([v, v.new_ones(B, T, H, 1)], dim=-1)
    kwargs = {"scale": scale} | ({"chunk_size": chunk_size} if name == "chunk" else {})
    if cu_seqlens is None:
        o, S = impl(q, k, v, initial_state=initial_state,
                    output_final_state=output_final_state, **kwargs)
    else:
        o, S = contract.run_varlen(impl, cu_seqlens, (q, k, v), initial_state,
                                   output_final_state, **kwargs)
    if normalize:
        o = o[..., :V] / (o[..., V:] + scale * NORMALIZE_EPS)
    return o.to(q.dtype), S
