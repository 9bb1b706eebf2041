"""Momentum delta rule: the linear memory of Titans (Behrouz, Zhong & Mirrokni 2025,
eqs. 12–15): gradient descent with momentum and weight decay on the recall loss.

    ℓ_t(S) = ‖Sᵀ k_t − v_t‖²                         (eq. 12, the paper's loss, no ½)
    M_t = η_t M_{t−1} − θ_t ∇ℓ_t(S_{t−1})            (eq. 14, the surprise with momentum)
        = η_t M_{t−1} + 2 θ_t k_t (v_t − S_{t−1}ᵀ k_t)ᵀ
    S_t = (1 − α_t) S_{t−1} + M_t                      (eq. 13, forgetting)
    o_t = scale · S_tᵀ q_t                            (eq. 15, read after write)
                                                      S, M ∈ ℝ^{K×V} per head

The paper's memory M is S here and its surprise S is M here (the state names of this
library). η = 0, α = 0 and θ = β/2 is the delta rule; the factor 2 is the paper's loss
(the table that asked for this op wrote ½‖·‖², i.e. θ = β). Eq. 12 is for the linear memory,
the case of a memory that is one matrix; deep memories (MLPs) are not an op.

| paper                                 | argument             |
|---------------------------------------|----------------------|
| query / key / value                   | q, k, v              |
| learning rate θ_t                     | theta [B, T, H] ≥ 0  |
| momentum decay η_t                    | eta [B, T, H] ∈ [0,1] |
| forgetting α_t                        | alpha [B, T, H] ∈ [0,1] |
| memory M_t / surprise S_t             | state (S, M), each [B, H, K, V] |

Forms. Written values u_t = 2θ_t (v_t − S_{t−1}ᵀk_t) make both states linear in them:
M_t = η_t M_{t−1} + k_t u_tᵀ, S_t = r_t S_{t−1} + M_t with r = 1 − α. In a block of C steps
from (S₀, M₀) let Γʳ[t, s] = Π_{s<j≤t} r_j, Γᵑ likewise (1 on the diagonal, 0 above),
pʳ_t = Π_{j≤t} r_j, pᵑ_t likewise. Then

    G = Γʳ Γᵑ,   c = Γʳ pᵑ          (a memory written at s reaches S_t through M)
    S_t = pʳ_t S₀ + c_t M₀ + Σ_{s≤t} G[t, s] k_s u_sᵀ,   M_t = pᵑ_t M₀ + Σ_{s≤t} Γᵑ[t, s] k_s u_sᵀ

and with D = diag(2θ) and "⁻" for the row of step t − 1:

    (I + StrictTril(D (K Kᵀ ⊙ G⁻))) [U_v | W_S | W_M] = [D V | D pʳ⁻ K | D c⁻ K]
    U  = U_v − W_S S₀ − W_M M₀
    O  = scale · (pʳ Q S₀ + c Q M₀ + (Tril(Q Kᵀ) ⊙ G) U)
    S_C = pʳ_C S₀ + c_C M₀ + (G[C, ·] ⊙ K)ᵀ U,   M_C = pᵑ_C M₀ + (Γᵑ[C, ·] ⊙ K)ᵀ U

The products are cumulative products (exact with gates of 0 or 1, never logs).
``chunk`` solves all blocks at once and loops over blocks for U and the two states;
``parallel`` is one block of all T steps.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fastweights.ops import chunking, dispatch
from fastweights.ops.spec import QUERY, UNIT_KEY, VALUE, Arg, Domain, Rule, State

Memory = tuple[Tensor, Tensor]


def _initial(initial_state: Memory | None, B: int, H: int, K: int, V: int,
             like: Tensor) -> Memory:
    if initial_state is None:
        return like.new_zeros(B, H, K, V), like.new_zeros(B, H, K, V)
    return tuple(s.to(like.dtype) for s in initial_state)


def momentum_delta_rule_recurrent(q: Tensor, k: Tensor, v: Tensor, theta: Tensor,
                                  eta: Tensor, alpha: Tensor, *, scale: float,
                                  initial_state: Memory | None = None,
                                  output_final_state: bool = False
                                  ) -> tuple[Tensor, Memory | None]:
    """The reference: a plain loop over t in fp32 (fp64 stays fp64), nothing in place.

    q, k: [B, T, H, K]; v: [B, T, H, V]; theta, eta, alpha: [B, T, H]; initial_state:
    (S, M), each [B, H, K, V], or None (zeros). Returns o [B, T, H, V] in q's dtype and
    (S_T, M_T) in the compute dtype (or None).
    """
    B, T, H, K = q.shape
    V = v.shape[-1]
    dtype, ct = q.dtype, chunking.compute_dtype(q)
    S, M = _initial(initial_state, B, H, K, V, q.to(ct))
    outs = []
    for q_t, k_t, v_t, th_t, et_t, al_t in zip(
            *(x.to(ct).unbind(1) for x in (q, k, v, theta, eta, alpha)), strict=True):
        surprise = 2 * th_t[..., None] * (v_t - torch.einsum("bhk,bhkv->bhv", k_t, S))
        M = et_t[..., None, None] * M + torch.einsum("bhk,bhv->bhkv", k_t, surprise)
        S = (1 - al_t)[..., None, None] * S + M
        outs.append(scale * torch.einsum("bhk,bhkv->bhv", q_t, S))
    o = chunking.stack_steps(outs, B, H, V, v)
    return o.to(dtype), ((S, M) if output_final_state else None)


def _products(x: Tensor) -> Tensor:
    """[..., C] gates → [..., C + 1, C + 1] with P[t + 1, s + 1] = Π_{s<j≤t} x_j (s ≤ t, else
    0) and P[t + 1, 0] = Π_{j≤t} x_j: a one in front, then cumulative products down t."""
    x = torch.cat([torch.ones_like(x[..., :1]), x], -1)
    C1 = x.shape[-1]
    lower = torch.ones(C1, C1, dtype=torch.bool, device=x.device).tril()
    grid = x[..., :, None].expand(*x.shape, C1)  # grid[t, s] = x_t
    grid = torch.where(lower.tril(-1), grid, torch.ones_like(grid))
    return grid.cumprod(-2) * lower


def momentum_delta_rule_chunk(q: Tensor, k: Tensor, v: Tensor, theta: Tensor, eta: Tensor,
                              alpha: Tensor, *, scale: float,
                              initial_state: Memory | None = None,
                              output_final_state: bool = False,
                              chunk_size: int = 64) -> tuple[Tensor, Memory | None]:
    """Chunkwise form: same arguments and results as the reference."""
    B, T, H, K = q.shape
    V = v.shape[-1]
    dtype, ct = q.dtype, chunking.compute_dtype(q)
    S0, M0 = _initial(initial_state, B, H, K, V, q.to(ct))
    if T == 0:
        return v.new_zeros(B, 0, H, V), ((S0, M0) if output_final_state else None)
    C = max(1, min(chunk_size, T))
    qc, kc, vc = (chunking.to_chunks(x.to(ct), C) for x in (q, k, v))  # [B, H, N, C, ·]
    lr = 2 * chunking.to_chunks(theta.to(ct), C)[..., None]  # [B, H, N, C, 1]
    Pr = _products(chunking.to_chunks(1 - alpha.to(ct), C))  # [B, H, N, C + 1, C + 1]
    Pm = _products(chunking.to_chunks(eta.to(ct), C))
    # G = Γʳ Γᵑ in columns 1.., c = Γʳ pᵑ in column 0, a zero row in front (step −1)
    G_all = Pr[..., :, 1:] @ Pm[..., 1:, :]  # [B, H, N, C + 1, C + 1]
    G, G_prev = G_all[..., 1:, 1:], G_all[..., :-1, 1:]  # [B, H, N, C, C]
    c, c_prev = G_all[..., 1:, :1], G_all[..., :-1, :1]  # [B, H, N, C, 1]
    pr, pr_prev = Pr[..., 1:, :1], Pr[..., :-1, :1]
    A = lr * (kc @ kc.mT) * G_prev
    rhs = torch.cat([lr * vc, lr * pr_prev * kc, lr * c_prev * kc], -1)
    sol = torch.linalg.solve_triangular(A, rhs, upper=False, unitriangular=True)
    U_v, W_S, W_M = sol[..., :V], sol[..., V:V + K], sol[..., V + K:]
    QK = (qc @ kc.mT) * G
    # no step leaves S unchanged (S_t = r S + M), so the states are taken at each block's
    # last real step, not after the zero padding of the last block
    N = qc.shape[2]
    last = torch.full((N,), C - 1, device=q.device)
    last[-1] = (T - 1) % C
    blocks = torch.arange(N, device=q.device)
    end_G, end_m = G[:, :, blocks, last], Pm[:, :, blocks, last + 1]  # [B, H, N, C + (0|1)]
    k_S = (end_G[..., None] * kc).mT  # [B, H, N, K, C]
    k_M = (end_m[..., 1:, None] * kc).mT
    ends = (pr[:, :, blocks, last], c[:, :, blocks, last], end_m[..., :1])  # [B, H, N, 1]
    ends = tuple(e[..., None] for e in ends)  # [B, H, N, 1, 1]
    outs, S, M = [], S0, M0
    for q_n, QK_n, Uv_n, WS_n, WM_n, pr_n, c_n, kS_n, kM_n, er_n, ec_n, em_n in zip(
            *(x.unbind(2) for x in (qc, QK, U_v, W_S, W_M, pr, c, k_S, k_M, *ends)),
            strict=True):
        u = Uv_n - WS_n @ S - WM_n @ M  # [B, H, C, V]
        outs.append(pr_n * (q_n @ S) + c_n * (q_n @ M) + QK_n @ u)
        S, M = er_n * S + ec_n * M + kS_n @ u, em_n * M + kM_n @ u
    o = scale * torch.stack(outs, dim=2)
    return chunking.from_chunks(o, T).to(dtype), ((S, M) if output_final_state else None)


def momentum_delta_rule_parallel(q: Tensor, k: Tensor, v: Tensor, theta: Tensor, eta: Tensor,
                                 alpha: Tensor, *, scale: float,
                                 initial_state: Memory | None = None,
                                 output_final_state: bool = False
                                 ) -> tuple[Tensor, Memory | None]:
    """Quadratic form: the block equations once over all T steps."""
    return momentum_delta_rule_chunk(q, k, v, theta, eta, alpha, scale=scale,
                                     initial_state=initial_state,
                                     output_final_state=output_final_state,
                                     chunk_size=max(1, q.shape[1]))


def momentum_delta_rule(q: Tensor, k: Tensor, v: Tensor, theta: Tensor, eta: Tensor,
                        alpha: Tensor, *, scale: float | None = None,
                        initial_state: Memory | None = None, output_final_state: bool = False,
                        form: str = "auto", chunk_size: int = 64,
                        cu_seqlens: Tensor | None = None,
                        backend: str = "auto") -> tuple[Tensor, Memory | None]:
    """Titans' linear memory with momentum; theta, eta, alpha [B, T, H]; the state is
    (S, M). Shapes and semantics: see the module docstring and ``fastweights.ops.spec``."""
    return dispatch.call(RULE, (q, k, v, theta, eta, alpha), scale=scale,
                         initial_state=initial_state, output_final_state=output_final_state,
                         form=form, chunk_size=chunk_size, cu_seqlens=cu_seqlens,
                         backend=backend)


UNIT = Domain(0.0, 1.0)
RULE = Rule(
    name="momentum_delta_rule",
    paper="Behrouz, Zhong & Mirrokni 2025 (Titans, the linear memory, eqs. 12–15)",
    recurrence="M_t = η_t M_{t-1} + 2θ_t k_t (v_t − S_{t-1}ᵀk_t)ᵀ; S_t = (1 − α_t) S_{t-1} + M_t",
    args=(QUERY, UNIT_KEY, VALUE,
          Arg("theta", ("B T H",), "learning rate θ of the surprise",
              domain=Domain(0.0, 1.0, why="2θ ≤ 2 keeps I − 2θ k kᵀ a contraction for unit "
                            "keys"), kind="gate"),
          Arg("eta", ("B T H",), "momentum decay η", domain=UNIT, kind="gate"),
          Arg("alpha", ("B T H",), "forgetting α: S keeps 1 − α", domain=UNIT, kind="gate")),
    state=(State("S", "N H K V", "the memory (the paper's M)"),
           State("M", "N H K V", "the surprise with momentum (the paper's S)")),
    forms={"recurrent": momentum_delta_rule_recurrent, "parallel": momentum_delta_rule_parallel,
           "chunk": momentum_delta_rule_chunk},
    fn=momentum_delta_rule,
    neutral_steps=False,
)
