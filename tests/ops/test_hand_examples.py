"""Two-step examples computed by hand (float64, scale = 1, B = H = 1, K = V = 2)."""

import torch

from fastweights.ops import delta_rule, sum_rule

q = torch.tensor([[1.0, 2.0], [0.0, 1.0]], dtype=torch.float64).view(1, 2, 1, 2)
k = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64).view(1, 2, 1, 2)
v = torch.tensor([[1.0, 2.0], [3.0, 1.0]], dtype=torch.float64).view(1, 2, 1, 2)


def test_delta_rule_two_steps():
    # S1 = 0.5·k1 v1ᵀ; S1ᵀk2 = [0.5, 1]; S2 = S1 + 1·k2 ([3, 1] − [0.5, 1])ᵀ
    beta = torch.tensor([0.5, 1.0], dtype=torch.float64).view(1, 2, 1)
    o, S = delta_rule(q, k, v, beta, scale=1.0, output_final_state=True, form="recurrent")
    assert torch.equal(o.view(2, 2), torch.tensor([[0.5, 1.0], [2.5, 0.0]], dtype=torch.float64))
    assert torch.equal(S.view(2, 2), torch.tensor([[3.0, 1.0], [2.5, 0.0]], dtype=torch.float64))


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
