"""Hand-computed examples of the delta rule family (float64, B = H = 1): the two-step
example and exact overwriting with β = 1 (delta_rule, gated_delta_rule with g = 0,
delta_product_rule with one step per token), and the one delta write ``delta_step``."""

import op_cases
import pytest
import torch

from fastweights.ops import delta_rule, delta_step

q = torch.tensor([[1.0, 2.0], [0.0, 1.0]], dtype=torch.float64).view(1, 2, 1, 2)
k = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64).view(1, 2, 1, 2)
v = torch.tensor([[1.0, 2.0], [3.0, 1.0]], dtype=torch.float64).view(1, 2, 1, 2)


def test_delta_rule_two_steps():
    # S1 = 0.5·k1 v1ᵀ; S1ᵀk2 = [0.5, 1]; S2 = S1 + 1·k2 ([3, 1] − [0.5, 1])ᵀ
    beta = torch.tensor([0.5, 1.0], dtype=torch.float64).view(1, 2, 1)
    o, S = delta_rule(q, k, v, beta, scale=1.0, output_final_state=True, form="recurrent")
    assert torch.equal(o.view(2, 2), torch.tensor([[0.5, 1.0], [2.5, 0.0]], dtype=torch.float64))
    assert torch.equal(S.view(2, 2), torch.tensor([[3.0, 1.0], [2.5, 0.0]], dtype=torch.float64))


def test_delta_step_is_the_rank_one_correction():
    S = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64)
    key = torch.tensor([1.0, 0.0], dtype=torch.float64)
    val = torch.tensor([5.0, 5.0], dtype=torch.float64)
    beta = torch.tensor(0.5, dtype=torch.float64)
    # Sᵀk = [1, 2]; S + 0.5 · k ([5, 5] − [1, 2])ᵀ changes row 0 only
    want = torch.tensor([[3.0, 3.5], [3.0, 4.0]], dtype=torch.float64)
    assert torch.equal(delta_step(S, key, val, beta), want)
    # batched over any leading axes
    batched = delta_step(S.expand(3, 2, 2, 2), key.expand(3, 2, 2), val.expand(3, 2, 2),
                         beta.expand(3, 2))
    assert torch.equal(batched, want.expand(3, 2, 2, 2))


def _overwrite_inputs(K=6, V=3):
    """Orthonormal keys, several written twice; query t asks for the key written at t."""
    gen = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(K, K, generator=gen, dtype=torch.float64))[0]
    order = torch.tensor([0, 1, 0, 2, 1, 0, 3])
    T = len(order)
    k = basis[order].view(1, T, 1, K)
    v = torch.randn(1, T, 1, V, generator=gen, dtype=torch.float64)
    return k.clone(), k, v, order, basis


@pytest.mark.parametrize("variant", ["delta_rule", "gated_delta_rule-g3d", "gated_delta_rule-g4d",
                                     "delta_product_rule"])
def test_delta_rule_overwrites_with_beta_one(variant):
    q, k, v, order, basis = _overwrite_inputs()
    T = len(order)
    ones = torch.ones(1, T, 1, dtype=torch.float64)
    x = {"q": q, "k": k, "v": v, "beta": ones}
    if variant.startswith("gated_delta_rule"):
        x["g"] = torch.zeros(1, T, 1, *(() if variant.endswith("3d") else (k.shape[-1],)),
                             dtype=torch.float64)
    if variant == "delta_product_rule":  # one Householder step per token
        x |= {"k": k[:, :, None], "v": v[:, :, None], "beta": ones[:, :, None]}
    for form in ["recurrent", *op_cases.forms_of(variant)]:
        o, S = op_cases.call(variant, x, form=form, chunk_size=4, scale=1.0,
                             output_final_state=True)
        # reading the key just written returns exactly its new value, not a blend
        torch.testing.assert_close(o, v, rtol=0, atol=1e-12)
        for j in order.unique():
            last = (order == j).nonzero().max()
            torch.testing.assert_close(S[0, 0].T @ basis[j], v[0, last, 0], rtol=0, atol=1e-12)
