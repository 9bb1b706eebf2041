"""DPLR delta rule: every form vs the recurrent reference; RWKV-7 and delta-rule special cases."""

import importlib

import pytest
import torch
import torch.nn.functional as F
from rule_forms import assert_close_forms, rel

from fastweights.ops import delta_rule

D = importlib.import_module("fastweights.ops.dplr_delta_rule")  # the module, not the function


def _inputs(B=2, T=11, H=2, K=4, V=3, dtype=torch.float64, seed=0):
    """RWKV-7-style arguments: a = −κ̂, b = κ̂ ⊙ a_rate, per-key decays in (e^{-3}, 1)."""
    gen = torch.Generator().manual_seed(seed)

    def randn(*s):
        return torch.randn(*s, generator=gen, dtype=torch.float64)

    kappa = F.normalize(randn(B, T, H, K), dim=-1)
    rate = torch.rand(B, T, H, K, generator=gen, dtype=torch.float64)
    gk = F.logsigmoid(randn(B, T, H, K) + 2.0)
    args = [randn(B, T, H, K), randn(B, T, H, K) * 0.5, randn(B, T, H, V), -kappa,
            kappa * rate, gk]
    return [x.to(dtype) for x in args], randn(B, H, K, V).to(dtype)


def _tol(dtype):
    return 1e-10 if dtype == torch.float64 else 1e-5


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("chunk_size", [4, 16, 64])
@pytest.mark.parametrize("T", [1, 63, 100])
def test_chunk_matches_recurrent(T, chunk_size, dtype):
    args, s0 = _inputs(T=T, dtype=dtype)
    assert_close_forms(D.dplr_delta_rule_recurrent, D.dplr_delta_rule_chunk, args, s0,
                       _tol(dtype), ref_kw={"scale": 0.5}, scale=0.5, chunk_size=chunk_size)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("T", [1, 37])
def test_parallel_matches_recurrent(T, dtype):
    args, s0 = _inputs(T=T, dtype=dtype)
    assert_close_forms(D.dplr_delta_rule_recurrent, D.dplr_delta_rule_parallel, args, s0,
                       _tol(dtype), ref_kw={"scale": 0.5}, scale=0.5)


@pytest.mark.parametrize("where", [16, 21])  # a chunk start, inside a chunk
def test_extreme_decay_fp32(where):
    args, s0 = _inputs(T=40, dtype=torch.float32)
    args[5] = args[5].clone()
    args[5][:, where] = -1e4
    assert_close_forms(D.dplr_delta_rule_recurrent, D.dplr_delta_rule_chunk, args, s0, 1e-4,
                       ref_kw={"scale": 0.5}, scale=0.5, chunk_size=16)


def test_delta_rule_is_a_special_case():
    """gk = 0, a = −k, b = β k gives the delta rule S ← S + β k (v − Sᵀk)ᵀ."""
    (q, _, v, kappa, _, _), s0 = _inputs(T=9)
    k = -kappa
    beta = torch.rand(*k.shape[:3], dtype=torch.float64)
    for form, fn in D.RULE.forms.items():
        o, S = fn(q, k, v * beta[..., None], -k, beta[..., None] * k, torch.zeros_like(k),
                  scale=0.5, initial_state=s0, output_final_state=True)
        o_d, S_d = delta_rule(q, k, v, beta, scale=0.5, initial_state=s0,
                              output_final_state=True, form="recurrent")
        # the delta rule writes β k vᵀ; the DPLR write k vᵀ carries β in v
        assert rel(o, o_d) < 1e-12 and rel(S, S_d) < 1e-12, form
