import pytest
import torch

from fastweights.layers import AttentionConfig, AttentionLayer
from fastweights.layers.attention import rotate


def _layer(**overrides):
    torch.manual_seed(0)
    return AttentionLayer(AttentionConfig(**(dict(d_model=16, n_heads=2) | overrides))).double()


@pytest.mark.parametrize("rope", [True, False])
def test_kv_cache_streaming(rope, device):
    layer = _layer(rope=rope).to(device)
    x = torch.randn(2, 9, 16, dtype=torch.float64, device=device)
    y, cache = layer(x)
    assert cache["k"].shape == (2, 2, 9, 8) and cache["valid"].all()
    assert cache["k"].numel() + cache["v"].numel() == 2 * layer.state_size(9)
    ys, s = [], None
    for t in range(9):
        y_t, s = layer(x[:, t : t + 1], s)
        ys.append(y_t)
    torch.testing.assert_close(torch.cat(ys, 1), y, rtol=1e-10, atol=1e-10)
    y1, s1 = layer(x[:, :4])
    y2, s2 = layer(x[:, 4:], s1)
    torch.testing.assert_close(torch.cat([y1, y2], 1), y, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(s2["k"], cache["k"], rtol=1e-10, atol=1e-10)


def test_preallocated_cache_appends_in_place_and_never_changes_a_state():
    layer = _layer()
    x = torch.randn(2, 7, 16, dtype=torch.float64)
    y, full = layer(x)
    with torch.no_grad():
        _, s = layer(x[:, :3])
        ptr = s["k"].data_ptr()
        _, s4 = layer(x[:, 3:4], s)
        assert s4["k"].data_ptr() == ptr  # written into the spare room, not copied
        kept = s4["k"].clone()
        y_a, s5 = layer(x[:, 4:5], s4)  # continues s4 in place
        y_b, s5b = layer(x[:, 4:5], s4)  # a second continuation of s4: copied, not overwritten
        assert s5b["k"].data_ptr() != ptr
        torch.testing.assert_close(s4["k"], kept, rtol=0, atol=0)
        torch.testing.assert_close(y_a, y_b, rtol=0, atol=0)
        y_c, s_c = layer(x[:, 4:], s4.copy())  # a shallow copy of the state dict: same tensors
        torch.testing.assert_close(y_c, y[:, 4:], rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(s_c["k"], full["k"], rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(s5["k"], full["k"][:, :, :5], rtol=1e-10, atol=1e-10)
    # under autograd the cache is concatenated, and gradients flow through a carried state
    _, s = layer(x[:, :3])
    y2, _ = layer(x[:, 3:], s)
    y2.sum().backward()
    assert all(p.grad is not None for p in layer.parameters())


def test_matches_transcription():
    """o_t = Σ_{s≤t} softmax(q_tᵀ k_s / √d) v_s with q, k rotated by their positions."""
    layer = _layer(d_model=12, n_heads=2)  # odd rotary half (d = 6 -> 3 pairs)
    x = torch.randn(1, 5, 12, dtype=torch.float64)
    q, k, v = (layer.qkv(x).reshape(1, 5, 3, 2, 6).permute(2, 0, 3, 1, 4))
    d, half = 6, 3
    ys = []
    for t in range(5):
        def rot(u, p):
            out = u.clone()
            for i in range(half):
                a = p * 10000.0 ** (-i / half)
                a = torch.tensor(a, dtype=torch.float64)
                c, s = torch.cos(a), torch.sin(a)
                out[..., i] = u[..., i] * c - u[..., i + half] * s
                out[..., i + half] = u[..., i + half] * c + u[..., i] * s
            return out
        qt = rot(q[:, :, t], t)
        ks = torch.stack([rot(k[:, :, s], s) for s in range(t + 1)], 2)
        w = torch.softmax(torch.einsum("bhd,bhsd->bhs", qt, ks) / d ** 0.5, -1)
        ys.append(torch.einsum("bhs,bhsd->bhd", w, v[:, :, : t + 1]).reshape(1, 12))
    expected = torch.stack(ys, 1) @ layer.out.weight.T
    torch.testing.assert_close(layer(x)[0], expected, rtol=1e-10, atol=1e-10)


def test_rope_is_relative():
    q, k = torch.randn(2, 1, 1, 1, 8, dtype=torch.float64)
    def score(p, s):
        return (rotate(q, torch.tensor([p]), 1e4) * rotate(k, torch.tensor([s]), 1e4)).sum()
    torch.testing.assert_close(score(7, 3), score(104, 100))


def test_intermediates():
    layer = _layer()
    x = torch.randn(2, 6, 16, dtype=torch.float64)
    _, s = layer(x[:, :2])
    y, _ = layer(x[:, 2:], s)
    y2, _, inter = layer(x[:, 2:], s, return_intermediates=True)
    assert torch.equal(y, y2)
    assert inter.attn.shape == (2, 2, 4, 6) and inter.q.shape == (2, 4, 2, 8)
    torch.testing.assert_close(inter.attn.sum(-1), torch.ones(2, 2, 4, dtype=torch.float64))
    # query t (position 2 + t) sees keys 0 … 2 + t only
    assert (inter.attn[..., 0, 3:] == 0).all() and (inter.attn[..., 2, :5] > 0).all()


def test_bad_config():
    with pytest.raises(ValueError, match="multiple of n_heads"):
        AttentionConfig(d_model=10, n_heads=4)
