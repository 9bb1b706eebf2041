"""The self-referential weight matrix against a literal transcription (float64)."""

import pytest
import torch

from fastweights.layers.srwm import SRWM, SRWMConfig

B, T, I = 2, 6, 5


def softmax(v):
    e = torch.exp(v - v.max())
    return e / e.sum()


def test_srwm_matches_transcription():
    torch.manual_seed(0)
    H, d = 2, 3
    layer = SRWM(I, SRWMConfig(d_model=H * d, n_heads=H)).double()
    x = torch.randn(B, T, I, dtype=torch.float64)
    y, s = layer(x)
    W_final = s["W"].mT  # the state holds S = Wᵀ
    rows = 3 * d + 4
    # sub-matrix of each row: y (d rows), q (d), k (d), b (4)
    group = [0] * d + [1] * d + [2] * d + [3] * 4
    for b in range(B):
        Ws = [layer.W0[h].clone() for h in range(H)]
        for t in range(T):
            xin = layer.inp.weight @ x[b, t]
            for h in range(H):
                W, xh = Ws[h], xin[h * d:(h + 1) * d]
                out = W @ xh
                y_t, q, k, bb = out[:d], out[d:2 * d], out[2 * d:3 * d], out[3 * d:]
                q_hat, k_hat = softmax(q), softmax(k)
                v, v_bar = W @ q_hat, W @ k_hat
                lr = 1 / (1 + torch.exp(-bb))
                W_new = W.clone()
                for r in range(rows):
                    for j in range(d):
                        W_new[r, j] = W[r, j] + lr[group[r]] * (v[r] - v_bar[r]) * k_hat[j]
                Ws[h] = W_new
                torch.testing.assert_close(y[b, t, h * d:(h + 1) * d], y_t,
                                           rtol=1e-12, atol=1e-12)
        for h in range(H):
            torch.testing.assert_close(W_final[b, h], Ws[h], rtol=1e-12, atol=1e-12)


def test_initial_state_is_w0_and_learned():
    torch.manual_seed(0)
    layer = SRWM(I, SRWMConfig(d_model=4)).double()
    x = torch.randn(B, 3, I, dtype=torch.float64)
    y, _, inter = layer(x, return_intermediates=True)
    assert inter.W.shape == (B, 3, 1, 16, 4) and inter.lr.shape == (B, 3, 1, 4)
    y.sum().backward()
    assert layer.W0.grad.abs().sum() > 0


def test_inits_follow_the_authors():
    """"formal": q rows scaled by 0.01, β rows shifted to mean −1; "fewshot": the β shift
    only; both from the same N(0, 1/d) draw as "normal"."""
    H, d = 2, 16
    W0 = {}
    for init in ("formal", "fewshot", "normal"):
        torch.manual_seed(0)
        W0[init] = SRWM(I, SRWMConfig(d_model=H * d, n_heads=H, init=init)).W0.detach()
    ref = W0["normal"]
    assert abs(ref.std().item() - d ** -0.5) < 0.05 * d ** -0.5
    y, q, k, b = (slice(0, d), slice(d, 2 * d), slice(2 * d, 3 * d), slice(3 * d, None))
    for init, q_scale in (("formal", 0.01), ("fewshot", 1.0)):
        W = W0[init]
        for rows in (y, k):
            torch.testing.assert_close(W[:, rows], ref[:, rows])
        torch.testing.assert_close(W[:, q], q_scale * ref[:, q])
        torch.testing.assert_close(W[:, b], ref[:, b] - 1.0)
    with pytest.raises(ValueError, match="init"):
        SRWMConfig(init="zeros")
