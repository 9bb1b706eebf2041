"""DPLR delta rule: a diagonal-plus-low-rank transition (the generalised delta rule of
RWKV-7, Peng et al. 2025; flash-linear-attention's ``dplr_delta_rule``).

    S_t = Diag(e^{gk_t}) S_{t−1} + b_t (a_tᵀ S_{t−1}) + k_t v_tᵀ      S ∈ ℝ^{K×V} per head
        = (Diag(e^{gk_t}) + b_t a_tᵀ) S_{t−1} + k_t v_tᵀ
    o_t = scale · S_tᵀ q_t                                            (read after write)

a reads the old state, b writes along a direction, both act on the undecayed S_{t−1}.
RWKV-7 (arXiv:2503.14456, §4, the "wkv" state evolution S_t = S_{t−1}(diag(w_t) −
κ̂_tᵀ(a_t ⊙ κ̂_t)) + v_tᵀ k̃_t with S ∈ ℝ^{V×K}) is, transposed to the layout here,
a = −κ̂ (the normalised removal key reads), b = κ̂ ⊙ a_rate (the in-context learning
rate writes), gk = log w, k = k̃. (The table that asked for this op wrote a_t (b_tᵀ S) with
the same a, b; that transposes the low-rank term, so the paper's order is the one used.)
gk = 0, a = −k, b = β k is the delta rule; gk = 0 alone is IPLR.

| paper (RWKV-7)                     | argument             |
|------------------------------------|----------------------|
| receptance r / key k̃ / value v     | q, k, v              |
| decay w = e^{gk} (per key)          | gk [B, T, H, K], ≤ 0 |
| −κ̂ (read) / κ̂ ⊙ a (write)          | a, b [B, T, H, K]    |
| state wkv (transposed)             | state [B, H, K, V]   |

Forms. In a block of C steps from S₀ let Γ_t = Σ_{r≤t} gk_r (per key, restarted at each
block) and u_t = a_tᵀ S_{t−1} (the value read, [C, V] stacked). Unrolled,
S_t = e^{Γ_t} ⊙ S₀ + Σ_{s≤t} e^{Γ_t − Γ_s} ⊙ (b_s u_sᵀ + k_s v_sᵀ), hence with the decayed
scores X·Y[t, s] = Σ_κ x_tκ y_sκ e^{Γ'_tκ − Γ_sκ} (``decayed_scores``):

    (I − StrictTril(a·b)) U = (a ⊙ e^{Γ_{t−1}}) S₀ + StrictTril(a·k) V   [Γ' = Γ_{t−1}]
    O   = scale · ((q ⊙ e^{Γ}) S₀ + Tril(q·b) U + Tril(q·k) V)            [Γ' = Γ_t]
    S_C = e^{Γ_C} ⊙ S₀ + (b ⊙ e^{Γ_C − Γ})ᵀ U + (k ⊙ e^{Γ_C − Γ})ᵀ V

The solve is unit-triangular and U = W S₀ + U₀ is affine in S₀, so only U = W S + U₀ and
the state update run in a loop over blocks. ``parallel`` is one block of all T steps.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fastweights.ops import contract


def dplr_delta_rule_recurrent(q: Tensor, k: Tensor, v: Tensor, a: Tensor, b: Tensor,
                              gk: Tensor, *, scale: float, initial_state: Tensor | None = None,
                              output_final_state: bool = False
                              ) -> tuple[Tensor, Tensor | None]:
    """The reference: a plain loop over t in fp32 (fp64 stays fp64), nothing in place.

    q, k, a, b, gk: [B, T, H, K]; v: [B, T, H, V]; initial_state: [B, H, K, V] or None.
    Returns o [B, T, H, V] in q's dtype and S_T [B, H, K, V] in the compute dtype (or None).
    """
    B, T, H, K = q.shape
    V = v.shape[-1]
    dtype, ct = q.dtype, contract.compute_dtype(q)
    S = q.new_zeros(B, H, K, V, dtype=ct) if initial_state is None else initial_state.to(ct)
    outs = []
    for q_t, k_t, v_t, a_t, b_t, g_t in zip(*(x.to(ct).unbind(1) for x in (q, k, v, a, b, gk)),
                                            strict=True):
        read = torch.einsum("bhk,bhkv->bhv", a_t, S)
        S = (g_t.exp()[..., None] * S + torch.einsum("bhk,bhv->bhkv", b_t, read)
             + torch.einsum("bhk,bhv->bhkv", k_t, v_t))
        outs.append(scale * torch.einsum("bhk,bhkv->bhv", q_t, S))
    o = torch.stack(outs, dim=1) if outs else v.new_zeros(B, 0, H, V)
    return o.to(dtype), (S if output_final_state else None)


def decayed_scores(x: Tensor, y: Tensor, g: Tensor, *, shift: bool, sub: int = 8) -> Tensor:
    """A[p, t, s] = Σ_κ x_tκ y_{p,sκ} exp(Σ_{s<r≤t'} g_rκ) for s ≤ t', t' = t − 1 if ``shift``
    else t (0 elsewhere): decayed scores inside one block of per-key log-gates g ≤ 0.

    x, g: [..., C, K]; y: [P, ..., C, K] (P score matrices sharing the decays); returns
    [P, ..., C, C]. Every exponent is a sum of gates, never a difference of two cumulative
    sums, so one extreme gate (g = −1e4) costs no precision elsewhere. As in GLA (Yang et
    al. 2024) the block is cut into sub-blocks of ``sub`` steps: inside one the pairwise
    sums come from ``contract.segsum``; between sub-block j and a later i the decay splits
    into the sum from the start of i to t' and the sum from s to the end of i − 1, two
    factors ≤ 1, so that block is a matmul.
    """
    C, K = g.shape[-2:]
    if C % sub:
        sub = C
    n = C // sub
    lead = g.shape[:-2]
    xs, gs = (t.reshape(*lead, n, sub, K) for t in (x, g))  # [..., n, sub, K]
    ys = y.reshape(y.shape[0], *lead, n, sub, K)
    seg = contract.segsum(gs.movedim(-1, -2))  # [..., n, K, t, s]
    if shift:
        seg = torch.cat([torch.full_like(seg[..., :1, :], float("-inf")), seg[..., :-1, :]], -2)
    diag = torch.einsum("...itk,p...isk,...ikts->p...its", xs, ys, seg.exp())
    if n == 1:
        return diag.reshape(y.shape[0], *lead, C, C)
    cum = gs.cumsum(-2)
    head = torch.cat([torch.zeros_like(cum[..., :1, :]), cum[..., :-1, :]], -2) if shift else cum
    rev = gs.flip(-2).cumsum(-2).flip(-2)
    tail = torch.cat([rev[..., 1:, :], torch.zeros_like(rev[..., :1, :])], -2)  # Σ_{s<r≤end}
    # between[i, j] = Σ of the whole sub-blocks strictly between j and i (−∞ unless j < i)
    between = contract.segsum(cum[..., -1, :].movedim(-1, -2))  # [..., K, n, n]
    between = torch.cat([torch.full_like(between[..., :1, :], float("-inf")),
                         between[..., :-1, :]], -2).movedim(-3, -1)  # [..., i, j, K]
    x_dec = xs * head.exp()  # [..., i, t, K]
    y_dec = ys[..., None, :, :, :] * (tail[..., None, :, :, :]
                                      + between[..., :, :, None, :]).exp()  # [P,..., i, j, s, K]
    off = torch.einsum("...itk,p...ijsk->p...itjs", x_dec, y_dec)  # [P, ..., i, t, j, s]
    eye = torch.eye(n, dtype=x.dtype, device=x.device)
    full = off + diag[..., :, :, None, :] * eye[:, None, :, None]
    return full.reshape(y.shape[0], *lead, C, C)


def dplr_delta_rule_chunk(q: Tensor, k: Tensor, v: Tensor, a: Tensor, b: Tensor, gk: Tensor,
                          *, scale: float, initial_state: Tensor | None = None,
                          output_final_state: bool = False,
                          chunk_size: int = 64) -> tuple[Tensor, Tensor | None]:
    """Chunkwise form: same arguments and results as the reference."""
    B, T, H, K = q.shape
    V = v.shape[-1]
    dtype, ct = q.dtype, contract.compute_dtype(q)
    S0 = q.new_zeros(B, H, K, V, dtype=ct) if initial_state is None else initial_state.to(ct)
    if T == 0:
        return v.new_zeros(B, 0, H, V), (S0 if output_final_state else None)
    C = max(1, min(chunk_size, T))
    qc, kc, vc, ac, bc = (contract.to_chunks(x.to(ct), C) for x in (q, k, v, a, b))
    gc = contract.to_chunks(gk.to(ct), C)  # [B, H, N, C, K]
    G = gc.cumsum(-2)
    G_prev = torch.cat([torch.zeros_like(G[..., :1, :]), G[..., :-1, :]], dim=-2)
    # e^{Γ_C − Γ_s} as the sum of the gates after s (a difference of cumsums loses digits)
    rev = gc.flip(-2).cumsum(-2).flip(-2)
    to_end = torch.cat([rev[..., 1:, :], torch.zeros_like(rev[..., :1, :])], -2).exp()
    A_ab, A_ak = decayed_scores(ac, torch.stack([bc, kc]), gc, shift=True)
    A_qb, A_qk = decayed_scores(qc, torch.stack([bc, kc]), gc, shift=False)
    rhs = torch.cat([ac * G_prev.exp(), A_ak @ vc], dim=-1)  # [B, H, N, C, K + V]
    WU = torch.linalg.solve_triangular(-A_ab, rhs, upper=False, unitriangular=True)
    W, U0 = WU[..., :K], WU[..., K:]
    last = G[..., -1:, :]  # [B, H, N, 1, K]
    b_end = (bc * to_end).mT  # [B, H, N, K, C]
    writes = (kc * to_end).mT @ vc  # [B, H, N, K, V]
    decay = last.exp().mT  # [B, H, N, K, 1]
    outs, S = [], S0
    for q_n, Aqb_n, W_n, U_n, b_n, w_n, a_n in zip(
            (qc * G.exp()).unbind(2), A_qb.unbind(2), W.unbind(2), U0.unbind(2),
            b_end.unbind(2), writes.unbind(2), decay.unbind(2), strict=True):
        u = W_n @ S + U_n  # [B, H, C, V]
        outs.append(q_n @ S + Aqb_n @ u)
        S = a_n * S + b_n @ u + w_n
    o = scale * (torch.stack(outs, dim=2) + A_qk @ vc)
    return contract.from_chunks(o, T).to(dtype), (S if output_final_state else None)


def dplr_delta_rule_parallel(q: Tensor, k: Tensor, v: Tensor, a: Tensor, b: Tensor,
                             gk: Tensor, *, scale: float, initial_state: Tensor | None = None,
                             output_final_state: bool = False
                             ) -> tuple[Tensor, Tensor | None]:
    """Quadratic form: the block equations once over all T steps."""
    return dplr_delta_rule_chunk(q, k, v, a, b, gk, scale=scale, initial_state=initial_state,
                                 output_final_state=output_final_state,
                                 chunk_size=max(1, q.shape[1]))


FORMS = {"recurrent": dplr_delta_rule_recurrent, "parallel": dplr_delta_rule_parallel,
         "chunk": dplr_delta_rule_chunk}
