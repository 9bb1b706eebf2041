"""Mesa rule: every form vs the recurrent reference; the read is the ridge-regression optimum."""

import importlib

import pytest
import torch
import torch.nn.functional as F
from rule_forms import assert_close_forms, rel

Me = importlib.import_module("fastweights.ops.mesa_rule")  # the module, not the function


def _inputs(B=2, T=11, H=2, K=4, V=3, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)

    def randn(*s):
        return torch.randn(*s, generator=gen, dtype=torch.float64)

    args = [randn(B, T, H, K), F.normalize(randn(B, T, H, K), dim=-1), randn(B, T, H, V),
            F.logsigmoid(randn(B, T, H) + 3.0),
            torch.rand(B, T, H, generator=gen, dtype=torch.float64),
            (0.5 + torch.rand(H, K, generator=gen, dtype=torch.float64)).expand(B, T, H, K)]
    a = randn(B, H, K, K) * 0.3
    state = (a @ a.mT, randn(B, H, K, V) * 0.3)
    return [x.to(dtype) for x in args], tuple(s.to(dtype) for s in state)


def _tol(dtype):
    return 1e-10 if dtype == torch.float64 else 1e-5


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("chunk_size", [4, 16, 64])
@pytest.mark.parametrize("T", [1, 63, 100])
def test_chunk_matches_recurrent(T, chunk_size, dtype):
    args, state = _inputs(T=T, dtype=dtype)
    assert_close_forms(Me.mesa_rule_recurrent, Me.mesa_rule_chunk, args, state, _tol(dtype),
                       ref_kw={"scale": 0.7}, scale=0.7, chunk_size=chunk_size)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("T", [1, 37])
def test_parallel_matches_recurrent(T, dtype):
    args, state = _inputs(T=T, dtype=dtype)
    assert_close_forms(Me.mesa_rule_recurrent, Me.mesa_rule_parallel, args, state,
                       _tol(dtype), ref_kw={"scale": 0.7}, scale=0.7)


def test_read_is_the_ridge_regression_optimum():
    """γ = 1, β = 1: o_t = W* q_t with W* = Vᵀ K (Kᵀ K + Λ)⁻¹ over the first t pairs."""
    (q, k, v, g, beta, lam), _ = _inputs(B=1, T=9, H=1)
    o, _ = Me.mesa_rule_chunk(q, k, v, torch.zeros_like(g), torch.ones_like(beta), lam,
                              scale=1.0, chunk_size=4)
    for t in range(9):
        K_t, V_t = k[0, : t + 1, 0], v[0, : t + 1, 0]
        W = V_t.T @ K_t @ torch.linalg.inv(K_t.T @ K_t + torch.diag(lam[0, 0, 0]))
        assert rel(o[0, t, 0], W @ q[0, t, 0]) < 1e-12


@pytest.mark.parametrize("form", ["recurrent", "chunk"])
def test_conjugate_gradient_read(form):
    """Fewer CG steps than K approximate the exact read; K steps or more reach it (CG is
    exact after K iterations), with finite gradients past convergence."""
    args, state = _inputs(T=13, K=4)
    args = [a.clone().requires_grad_() for a in args[:3]] + args[3:]
    fn = {"recurrent": Me.mesa_rule_recurrent, "chunk": Me.mesa_rule_chunk}[form]
    kw = {"chunk_size": 4} if form == "chunk" else {}
    exact, _ = Me.mesa_rule_recurrent(*args, scale=1.0, initial_state=state)
    one, _ = fn(*args, scale=1.0, initial_state=state, cg_steps=1, **kw)
    assert rel(one, exact) > 1e-3
    for steps in (4, 9):
        o, _ = fn(*args, scale=1.0, initial_state=state, cg_steps=steps, **kw)
        assert rel(o, exact) < 1e-9
        grads = torch.autograd.grad(o.square().sum(), args[:3])
        assert all(bool(torch.isfinite(gr).all()) for gr in grads)


def test_cg_steps_must_be_a_positive_int():
    args, _ = _inputs(T=3)
    with pytest.raises(ValueError, match="cg_steps must be None"):
        importlib.import_module("fastweights.ops").mesa_rule(*args, cg_steps=0)
