import pytest
import torch
from torch import nn

from fastweights.layers.norm import RMSNorm


@pytest.mark.parametrize("eps", [None, 1e-5])
def test_matches_torch_rmsnorm_values_and_gradients(eps):
    torch.manual_seed(0)
    ours, ref = RMSNorm(8, eps=eps).double(), nn.RMSNorm(8, eps=eps).double()
    with torch.no_grad():
        ours.weight.copy_(torch.randn(8))
        ref.weight.copy_(ours.weight)
    x = torch.randn(3, 5, 8, dtype=torch.float64, requires_grad=True)
    g = torch.randn(3, 5, 8, dtype=torch.float64)
    y = ours(x)
    torch.testing.assert_close(y, ref(x), rtol=0, atol=0)  # the same forward
    grads = torch.autograd.grad(y, (x, ours.weight), g)
    want = torch.autograd.grad(ref(x), (x, ref.weight), g)
    for a, b in zip(grads, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(ours, (x,))
    assert torch.autograd.gradgradcheck(ours, (x,))
    assert ours.state_dict().keys() == ref.state_dict().keys()


def test_saves_only_its_input():
    norm = RMSNorm(16)
    x = torch.randn(4, 16, requires_grad=True)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel()) or t,
                                                  lambda t: t):
        norm(x)
    assert saved == [64, 16]  # x and the weight; nn.RMSNorm also keeps x · r
