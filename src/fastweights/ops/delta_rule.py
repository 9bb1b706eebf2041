"""Delta rule: DeltaNet (Schlag, Irie & Schmidhuber 2021; Yang et al. 2024).

    S_t = S_{t-1} + β_t k_t (v_t − S_{t-1}ᵀ k_t)ᵀ
        = (I − β_t k_t k_tᵀ) S_{t-1} + β_t k_t v_tᵀ      S ∈ ℝ^{K×V} per head
    o_t = scale · S_tᵀ q_t                               (read after write)

One step of gradient descent with learning rate β_t on ½‖v_t − S_{t-1}ᵀk_t‖². With ‖k_t‖ = 1
the transition I − β_t k_t k_tᵀ has eigenvalues 1 and 1 − β_t, so β ∈ (0, 2) keeps it a
contraction with a negative eigenvalue when β > 1 (Grazzi et al. 2025).

| paper                       | argument          |
|-----------------------------|-------------------|
| query / key / value         | q, k, v           |
| learning rate / write gate β | beta [B, T, H]   |
| fast weight W = Sᵀ          | state [B,H,K,V]   |
"""

from __future__ import annotations

import torch
from torch import Tensor

from fastweights.ops import contract


def delta_rule_recurrent(q: Tensor, k: Tensor, v: Tensor, beta: Tensor, *, scale: float,
                         initial_state: Tensor | None = None,
                         output_final_state: bool = False) -> tuple[Tensor, Tensor | None]:
    """The reference: a plain loop over t in fp32 (fp64 stays fp64), nothing in place.

    q, k: [B, T, H, K]; v: [B, T, H, V]; beta: [B, T, H]; initial_state: [B, H, K, V] or None.
    Returns o [B, T, H, V] in q's dtype and S_T [B, H, K, V] in the compute dtype (or None).
    """
    B, T, H, K = q.shape
    dtype, ct = q.dtype, contract.compute_dtype(q)
    q, k, v, beta = q.to(ct), k.to(ct), v.to(ct), beta.to(ct)
    S = (q.new_zeros(B, H, K, v.shape[-1]) if initial_state is None
         else initial_state.to(ct))
    outs = []
    for t in range(T):
        v_old = torch.einsum("bhk,bhkv->bhv", k[:, t], S)
        delta = beta[:, t, :, None] * (v[:, t] - v_old)
        S = S + torch.einsum("bhk,bhv->bhkv", k[:, t], delta)
        outs.append(scale * torch.einsum("bhk,bhkv->bhv", q[:, t], S))
    o = torch.stack(outs, dim=1) if outs else v.new_zeros(B, 0, H, v.shape[-1])
    return o.to(dtype), (S if output_final_state else None)


FORMS = {"recurrent": delta_rule_recurrent}


def delta_rule(q: Tensor, k: Tensor, v: Tensor, beta: Tensor, *, scale: float | None = None,
               initial_state: Tensor | None = None, output_final_state: bool = False,
               form: str = "auto", chunk_size: int = 64,
               cu_seqlens: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
    """Delta-rule fast weights. Shapes and semantics: see the module docstring and
    ``fastweights.ops.contract``."""
    B, T, H, K, V = contract.check_qkv(q, k, v)
    contract.check_per_step("beta", beta, q)
    contract.check_chunk_size(chunk_size)
    n = contract.check_cu_seqlens(cu_seqlens, B, T)
    contract.check_state(initial_state, n, H, K, V, q)
    name = contract.resolve_form(form, T, tuple(FORMS), chunk_size)
    impl = FORMS[name]
    kwargs = {"scale": K**-0.5 if scale is None else scale}
    kwargs |= {"chunk_size": chunk_size} if name == "chunk" else {}
    if cu_seqlens is None:
        return impl(q, k, v, beta, initial_state=initial_state,
                    output_final_state=output_final_state, **kwargs)
    return contract.run_varlen(impl, cu_seqlens, (q, k, v, beta), initial_state,
                               output_final_state, **kwargs)
