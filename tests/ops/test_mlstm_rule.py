"""mLSTM: every form vs the recurrent reference, and stability with large gate pre-activations."""

import importlib

import pytest
import torch
import torch.nn.functional as F
from rule_forms import assert_close_forms, outputs_and_grads, rel

M = importlib.import_module("fastweights.ops.mlstm_rule")  # the module, not the function


def _inputs(B=2, T=11, H=2, K=4, V=3, gate=2.0, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)

    def randn(*s):
        return torch.randn(*s, generator=gen, dtype=torch.float64)

    args = [randn(B, T, H, K), randn(B, T, H, K), randn(B, T, H, V),
            gate * randn(B, T, H), 2.0 + gate * randn(B, T, H)]
    state = (randn(B, H, K, V), randn(B, H, K), randn(B, H))
    return [a.to(dtype) for a in args], tuple(s.to(dtype) for s in state)


def _tol(dtype):
    return 1e-10 if dtype == torch.float64 else 1e-5


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("chunk_size", [4, 16, 64])
@pytest.mark.parametrize("T", [1, 63, 100])
def test_chunk_matches_recurrent(T, chunk_size, dtype):
    args, state = _inputs(T=T, dtype=dtype)
    assert_close_forms(M.mlstm_rule_recurrent, M.mlstm_rule_chunk, args, state, _tol(dtype),
                       ref_kw={"scale": 0.5}, scale=0.5, chunk_size=chunk_size)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("T", [1, 37])
def test_parallel_matches_recurrent(T, dtype):
    args, state = _inputs(T=T, dtype=dtype)
    assert_close_forms(M.mlstm_rule_recurrent, M.mlstm_rule_parallel, args, state,
                       _tol(dtype), ref_kw={"scale": 0.5}, scale=0.5)


def test_zero_initial_state_default():
    args, state = _inputs(T=9)
    zeros = tuple(torch.zeros_like(s) for s in state)
    for form in M.RULE.forms.values():
        o, S = form(*args, scale=0.5, output_final_state=True)
        o0, S0 = form(*args, scale=0.5, initial_state=zeros, output_final_state=True)
        assert rel(o, o0) == 0 and all(rel(a, b) == 0 for a, b in zip(S, S0, strict=True))


def _unstabilised_factorised(q, k, v, i, f, scale):
    """The GLA-style factorisation without a stabiliser: e^{F_t} q · (e^{ĩ_s − F_s} k)."""
    Fc = F.logsigmoid(f).cumsum(1)  # [B, T, H]
    qe = scale * q * Fc.exp()[..., None]
    ke = k * (i - Fc).exp()[..., None]
    A = torch.einsum("bthk,bshk->bhts", qe, ke).tril()
    num = torch.einsum("bhts,bshv->bthv", A, v)
    den = A.sum(-1).movedim(1, 2)[..., None]
    return num / den.abs().clamp_min(1.0)


@pytest.mark.parametrize("form", ["chunk", "parallel"])
def test_large_gate_preactivations_stay_finite_and_exact_in_fp32(form):
    """Pre-activations of ±50: the unstabilised products overflow, the forms stay equal to
    the fp64 reference to fp32 precision, gradients included."""
    args, state = _inputs(B=1, T=40, H=2, K=4, V=3, gate=0.0, dtype=torch.float32)
    gen = torch.Generator().manual_seed(3)
    sign = lambda: torch.randint(0, 2, args[3].shape, generator=gen) * 2.0 - 1  # noqa: E731
    args[3], args[4] = 50.0 * sign(), 50.0 * sign()
    assert not torch.isfinite(_unstabilised_factorised(*args, scale=0.5)).all()
    kw = {"scale": 0.5} | ({"chunk_size": 16} if form == "chunk" else {})
    o, S, g = outputs_and_grads(M.RULE.forms[form], args, state, **kw)
    o_r, S_r, g_r = outputs_and_grads(M.mlstm_rule_recurrent, [a.double() for a in args],
                                      tuple(s.double() for s in state), scale=0.5)
    assert torch.isfinite(o).all() and all(torch.isfinite(x).all() for x in g)
    assert rel(o, o_r) <= 1e-5
    assert all(rel(a, b) <= 1e-5 for a, b in zip(S, S_r, strict=True))
    assert all(rel(a, b) <= 1e-4 for a, b in zip(g, g_r, strict=True))
