"""Gated delta rule with a per-key gate (KDA): what is particular to it."""

import torch
import torch.nn.functional as F
from op_cases import rel

from fastweights.ops import RULES, gated_delta_rule


def _inputs(B=2, T=13, H=2, K=4, V=3):
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(B, T, H, K, generator=gen, dtype=torch.float64)
    k = F.normalize(torch.randn(B, T, H, K, generator=gen, dtype=torch.float64), dim=-1)
    v = torch.randn(B, T, H, V, generator=gen, dtype=torch.float64)
    g = F.logsigmoid(torch.randn(B, T, H, generator=gen, dtype=torch.float64) + 2)
    beta = torch.rand(B, T, H, generator=gen, dtype=torch.float64)
    return q, k, v, g, beta


def test_a_per_key_gate_equal_over_keys_is_the_scalar_gate():
    q, k, v, g, beta = _inputs()
    for form in RULES["gated_delta_rule"].forms:
        o, S = gated_delta_rule(q, k, v, g, beta, form=form, chunk_size=4,
                                output_final_state=True)
        o4, S4 = gated_delta_rule(q, k, v, g[..., None].expand(*g.shape, 4), beta, form=form,
                                  chunk_size=4, output_final_state=True)
        assert rel(o4, o) < 1e-12 and rel(S4, S) < 1e-12, form


def test_the_per_key_decay_comes_before_the_delta_step():
    """One step from S₀: S₁ = (I − β k kᵀ) Diag(e^g) S₀ + β k vᵀ (KDA's order)."""
    q, k, v, _, beta = (x[:1, :1, :1] for x in _inputs())
    g = torch.tensor([-0.1, -2.0, -0.5, -3.0], dtype=torch.float64).view(1, 1, 1, 4)
    S0 = torch.randn(1, 1, 4, 3, generator=torch.Generator().manual_seed(2),
                     dtype=torch.float64)
    kk, b = k.view(4), beta.item()
    want = (torch.eye(4, dtype=torch.float64) - b * torch.outer(kk, kk)) @ (
        torch.diag(g.view(4).exp()) @ S0[0, 0]) + b * torch.outer(kk, v.view(3))
    for form in RULES["gated_delta_rule"].forms:
        _, S = gated_delta_rule(q, k, v, g, beta, form=form, initial_state=S0,
                                output_final_state=True)
        assert rel(S[0, 0], want) < 1e-12, form
