"""Oja's rule: every form vs the recurrent reference; the one-unit rule finds the top
principal component."""

import importlib

import pytest
import torch
import torch.nn.functional as F
from rule_forms import assert_close_forms, rel

O = importlib.import_module("fastweights.ops.oja_rule")  # the module, not the function


def _inputs(B=2, T=11, H=2, K=4, V=3, gated=True, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)

    def randn(*s):
        return torch.randn(*s, generator=gen, dtype=torch.float64)

    args = [randn(B, T, H, K), randn(B, T, H, K), F.normalize(randn(B, T, H, V), dim=-1),
            0.05 + 0.9 * torch.rand(B, T, H, generator=gen, dtype=torch.float64),
            F.logsigmoid(randn(B, T, H) + 3.0) if gated else torch.zeros(B, T, H)]
    return [a.to(dtype) for a in args], randn(B, H, K, V).to(dtype)


def _tol(dtype):
    return 1e-10 if dtype == torch.float64 else 1e-5


@pytest.mark.parametrize("gated", [True, False])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("chunk_size", [4, 16, 64])
@pytest.mark.parametrize("T", [1, 63, 100])
def test_chunk_matches_recurrent(T, chunk_size, dtype, gated):
    args, s0 = _inputs(T=T, dtype=dtype, gated=gated)
    assert_close_forms(O.oja_rule_recurrent, O.oja_rule_chunk, args, s0, _tol(dtype),
                       ref_kw={"scale": 0.5}, scale=0.5, chunk_size=chunk_size)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("T", [1, 37])
def test_parallel_matches_recurrent(T, dtype):
    args, s0 = _inputs(T=T, dtype=dtype)
    assert_close_forms(O.oja_rule_recurrent, O.oja_rule_parallel, args, s0, _tol(dtype),
                       ref_kw={"scale": 0.5}, scale=0.5)


def test_extreme_decay_fp32():
    args, s0 = _inputs(T=40, dtype=torch.float32)
    args[4] = args[4].clone()
    args[4][:, 16] = -1e4
    args[4][:, 21] = -1e4
    assert_close_forms(O.oja_rule_recurrent, O.oja_rule_chunk, args, s0, 1e-4,
                       ref_kw={"scale": 0.5}, scale=0.5, chunk_size=16)


def test_one_unit_converges_to_the_top_principal_component():
    """V = 1, y = wᵀx computed from the current weights: Oja's w → ± the top eigenvector."""
    gen = torch.Generator().manual_seed(0)
    K, T = 5, 3000
    cov_sqrt = torch.diag(torch.tensor([3.0, 1.0, 0.7, 0.5, 0.2], dtype=torch.float64))
    basis = torch.linalg.qr(torch.randn(K, K, generator=gen, dtype=torch.float64))[0]
    x = torch.randn(T, K, generator=gen, dtype=torch.float64) @ cov_sqrt @ basis.T
    S = F.normalize(torch.randn(1, 1, K, 1, generator=gen, dtype=torch.float64), dim=2)
    for t in range(T):  # the post-synaptic activity depends on S: one step at a time
        xt = x[t].view(1, 1, 1, K)
        y = torch.einsum("k,k->", S.view(K), x[t]).view(1, 1, 1, 1)
        rate = torch.full((1, 1, 1), 0.002, dtype=torch.float64)
        _, S = O.oja_rule(xt, xt, y, rate, scale=1.0, initial_state=S, form="recurrent",
                          output_final_state=True)
    w = S.view(K)
    assert abs(w.norm().item() - 1.0) < 0.05
    assert abs(torch.dot(F.normalize(w, dim=0), basis[:, 0]).item()) > 0.99
    assert rel(w.abs(), basis[:, 0].abs()) < 0.1
