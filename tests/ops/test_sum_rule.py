"""Hand-computed examples of the sum rule (float64, scale = 1, B = H = 1, K = V = 2)."""

import torch

from fastweights.ops import sum_rule

q = torch.tensor([[1.0, 2.0], [0.0, 1.0]], dtype=torch.float64).view(1, 2, 1, 2)
k = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64).view(1, 2, 1, 2)
v = torch.tensor([[1.0, 2.0], [3.0, 1.0]], dtype=torch.float64).view(1, 2, 1, 2)


def test_sum_rule_two_steps():
    o, S = sum_rule(q, k, v, scale=1.0, output_final_state=True, form="recurrent")
    assert torch.equal(o.view(2, 2), torch.tensor([[1.0, 2.0], [3.0, 1.0]], dtype=torch.float64))
    assert torch.equal(S.view(2, 2), torch.tensor([[4.0, 3.0], [3.0, 1.0]], dtype=torch.float64))


def test_sum_rule_normalized_two_steps():
    # z1 = [1, 0], z2 = [2, 1]; z1·q1 = 1, z2·q2 = 1; the state carries z as its last column
    o, S = sum_rule(q, k, v, normalize=True, output_final_state=True, form="recurrent")
    want = torch.tensor([[1.0, 2.0], [3.0, 1.0]], dtype=torch.float64) / (1 + 1e-6)
    torch.testing.assert_close(o.view(2, 2), want, rtol=1e-15, atol=0)
    assert torch.equal(S.view(2, 3),
                       torch.tensor([[4.0, 3.0, 2.0], [3.0, 1.0, 1.0]], dtype=torch.float64))


def test_sum_rule_does_not_overwrite():
    gen = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(6, 6, generator=gen, dtype=torch.float64))[0]
    order = torch.tensor([0, 1, 0, 2, 1, 0, 3])
    keys = basis[order].view(1, 7, 1, 6)
    vals = torch.randn(1, 7, 1, 3, generator=gen, dtype=torch.float64)
    o, _ = sum_rule(keys, keys, vals, scale=1.0, form="recurrent")
    # the second write under key 0 (t = 2) reads back v_0 + v_2, not v_2
    torch.testing.assert_close(o[0, 2, 0], vals[0, 0, 0] + vals[0, 2, 0], rtol=0, atol=1e-12)
    assert not torch.allclose(o, vals, atol=1e-3)
