"""Momentum delta rule (Titans): every form vs the recurrent reference; special cases."""

import importlib

import pytest
import torch
import torch.nn.functional as F
from rule_forms import assert_close_forms, rel

from fastweights.ops import delta_rule

Mo = importlib.import_module("fastweights.ops.momentum_delta_rule")  # the module, not the function


def _inputs(B=2, T=11, H=2, K=4, V=3, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)

    def randn(*s):
        return torch.randn(*s, generator=gen, dtype=torch.float64)

    def rand(*s):
        return torch.rand(*s, generator=gen, dtype=torch.float64)

    args = [randn(B, T, H, K), F.normalize(randn(B, T, H, K), dim=-1), randn(B, T, H, V),
            0.3 * rand(B, T, H), 0.9 * rand(B, T, H), 0.2 * rand(B, T, H)]
    state = (randn(B, H, K, V), 0.3 * randn(B, H, K, V))
    return [a.to(dtype) for a in args], tuple(s.to(dtype) for s in state)


def _tol(dtype):
    return 1e-10 if dtype == torch.float64 else 1e-5


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("chunk_size", [4, 16, 64])
@pytest.mark.parametrize("T", [1, 63, 100])
def test_chunk_matches_recurrent(T, chunk_size, dtype):
    args, state = _inputs(T=T, dtype=dtype)
    assert_close_forms(Mo.momentum_delta_rule_recurrent, Mo.momentum_delta_rule_chunk, args,
                       state, _tol(dtype), ref_kw={"scale": 0.5}, scale=0.5,
                       chunk_size=chunk_size)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("T", [1, 37])
def test_parallel_matches_recurrent(T, dtype):
    args, state = _inputs(T=T, dtype=dtype)
    assert_close_forms(Mo.momentum_delta_rule_recurrent, Mo.momentum_delta_rule_parallel,
                       args, state, _tol(dtype), ref_kw={"scale": 0.5}, scale=0.5)


def test_gates_of_zero_and_one_are_exact():
    """η ∈ {0, 1} and α ∈ {0, 1} (no momentum, a full reset) stay exact and differentiable."""
    args, state = _inputs(T=20)
    gen = torch.Generator().manual_seed(2)
    args[4] = torch.randint(0, 2, args[4].shape, generator=gen).double()
    args[5] = (torch.rand(args[5].shape, generator=gen) < 0.2).double()
    assert_close_forms(Mo.momentum_delta_rule_recurrent, Mo.momentum_delta_rule_chunk, args,
                       state, 1e-10, ref_kw={"scale": 0.5}, scale=0.5, chunk_size=8)


def test_no_momentum_no_forgetting_is_the_delta_rule():
    (q, k, v, _, _, _), _ = _inputs(T=13)
    beta = 0.1 + 1.5 * torch.rand(*k.shape[:3], dtype=torch.float64)
    zero = torch.zeros_like(beta)
    o_d, S_d = delta_rule(q, k, v, beta, scale=0.5, output_final_state=True, form="recurrent")
    for form, fn in Mo.RULE.forms.items():
        o, (S, _) = fn(q, k, v, beta / 2, zero, zero, scale=0.5, output_final_state=True)
        assert rel(o, o_d) < 1e-12 and rel(S, S_d) < 1e-12, form
