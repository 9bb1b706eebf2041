"""The short convolution against torch's depthwise ``conv1d``: outputs, cache, gradients."""

import pytest
import torch
import torch.nn.functional as F

from fastweights.layers import ShortConv


def _reference(conv: ShortConv, u, cache):
    """SiLU of a depthwise conv1d over [cache | u] (channels first), and the last c−1 inputs."""
    full = torch.cat([cache, u.mT], dim=-1)  # [B, C, c−1+T]
    y = F.silu(F.conv1d(full, conv.weight, conv.bias, groups=conv.in_channels))
    return y.mT, full[..., full.shape[-1] - cache.shape[-1]:]


@pytest.mark.parametrize("width", [2, 4])
@pytest.mark.parametrize("T", [1, 7])
def test_equals_depthwise_conv1d_with_gradients(width, T):
    torch.manual_seed(0)
    conv = ShortConv(5, width).double()
    u = torch.randn(3, T, 5, dtype=torch.float64, requires_grad=True)
    cache = torch.randn(3, 5, width - 1, dtype=torch.float64, requires_grad=True)
    y, new = conv(u, cache)
    y_ref, new_ref = _reference(conv, u, cache)
    torch.testing.assert_close(y, y_ref)
    torch.testing.assert_close(new, new_ref)
    w = torch.randn_like(y)
    params = (u, cache, conv.weight, conv.bias)
    grads = torch.autograd.grad((y * w).sum() + new.sum(), params)
    grads_ref = torch.autograd.grad((y_ref * w).sum() + new_ref.sum(), params)
    for g, g_ref in zip(grads, grads_ref, strict=True):
        torch.testing.assert_close(g, g_ref)


def test_gradcheck():
    torch.manual_seed(0)
    conv = ShortConv(3, 3).double()
    u = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    cache = torch.randn(2, 3, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *a: conv(*a)[0], (u, cache))


def test_no_grad_path_equals_grad_path():
    torch.manual_seed(0)
    conv = ShortConv(4, 4)
    u, cache = torch.randn(2, 6, 4), torch.randn(2, 4, 3)
    y, new = conv(u, cache)
    with torch.no_grad():
        y0, new0 = conv(u, cache)
    torch.testing.assert_close(y, y0)
    torch.testing.assert_close(new, new0)


def test_chunks_equal_whole_and_masked_steps_are_skipped():
    torch.manual_seed(0)
    conv = ShortConv(4, 4).double()
    u = torch.randn(2, 9, 4, dtype=torch.float64)
    y, cache = conv(u, conv.init_state(2, dtype=torch.float64))
    y1, c1 = conv(u[:, :5], conv.init_state(2, dtype=torch.float64))
    y2, c2 = conv(u[:, 5:], c1)
    torch.testing.assert_close(torch.cat([y1, y2], 1), y)
    torch.testing.assert_close(c2, cache)
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[0, [0, 4, 11]] = False
    mask[1, [2, 3, 7]] = False
    padded = torch.zeros(2, 12, 4, dtype=torch.float64)
    padded[mask] = u.reshape(-1, 4)
    ym, cm = conv(padded, conv.init_state(2, dtype=torch.float64), mask)
    torch.testing.assert_close(ym[mask], y.reshape(-1, 4))
    torch.testing.assert_close(cm, cache)


@pytest.mark.parametrize("masked", [False, True])
def test_post_inside_the_backward_equals_post_after(masked):
    """``post`` fused into the convolution's Function (recomputed in its backward) gives the
    values and gradients of applying it to the output; with a mask it is applied after."""
    torch.manual_seed(0)
    conv = ShortConv(6, 4).double()
    u = torch.randn(2, 5, 6, dtype=torch.float64, requires_grad=True)
    cache = torch.randn(2, 6, 3, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[1, 1, 0, 1, 1], [1, 1, 1, 1, 1]], dtype=torch.bool) if masked else None

    def post(y):
        a, b = y.split([4, 2], dim=-1)
        return F.normalize(F.elu(a) + 1, dim=-1), b

    (a, b), new = conv(u, cache, mask, post=post)
    y, new_ref = conv(u, cache, mask)
    a_ref, b_ref = post(y)
    params = (u, cache, conv.weight, conv.bias)
    wa, wb = torch.randn_like(a), torch.randn_like(b)
    grads = torch.autograd.grad((a * wa).sum() + (b * wb).sum() + new.sum(), params)
    grads_ref = torch.autograd.grad((a_ref * wa).sum() + (b_ref * wb).sum() + new_ref.sum(),
                                    params)
    for got, want in zip((a, b, new, *grads), (a_ref, b_ref, new_ref, *grads_ref), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    # one output unused: its gradient arrives as zeros, and the other's still flows
    (a, _), _ = conv(u, cache, mask, post=post)
    (g,) = torch.autograd.grad(a.sum(), u)
    (g_ref,) = torch.autograd.grad(post(conv(u, cache, mask)[0])[0].sum(), u)
    torch.testing.assert_close(g, g_ref, rtol=1e-12, atol=1e-12)
