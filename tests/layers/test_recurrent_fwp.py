"""Delta RNN, Delta LSTM and RDN against literal per-sequence transcriptions of their
equations (float64)."""

import pytest
import torch

from fastweights.layers.recurrent_fwp import (
    DeltaLSTM,
    DeltaRNN,
    RDNConfig,
    RecurrentDeltaNet,
    RecurrentFWPConfig,
)

B, T, I, D = 2, 6, 5, 4


def softmax(v):
    e = torch.exp(v - v.max())
    return e / e.sum()


def sigmoid(v):
    return 1 / (1 + torch.exp(-v))


def delta(W, k, v, beta):
    return W + beta * torch.outer(v - W @ k, k)


def _layer(cls):
    torch.manual_seed(0)
    return cls(I, RecurrentFWPConfig(d_model=D)).double()


def _x():
    return torch.randn(B, T, I, dtype=torch.float64, generator=torch.Generator().manual_seed(1))


def test_delta_rnn_matches_transcription():
    layer = _layer(DeltaRNN)
    x = _x()
    y, s = layer(x)
    W_f, R_f = s["W"].mT, s["R"].mT  # the state holds S = Wᵀ
    Ws, bs = layer.slow.weight, layer.slow.bias
    for b in range(B):
        W, R, y_prev = (torch.zeros(D, D, dtype=torch.float64), torch.zeros(D, D,
                        dtype=torch.float64), torch.zeros(D, dtype=torch.float64))
        for t in range(T):
            p = Ws @ x[b, t] + bs
            q, k, v = softmax(p[:D]), softmax(p[D:2 * D]), p[2 * D:3 * D]
            kr, vr = softmax(p[3 * D:4 * D]), p[4 * D:5 * D]
            beta, beta_r = sigmoid(p[5 * D]), sigmoid(p[5 * D + 1])
            W = delta(W, k, v, beta)
            R = delta(R, kr, vr, beta_r)
            y_prev = W @ q + R @ softmax(y_prev)
            torch.testing.assert_close(y[b, t], y_prev, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(W_f[b], W, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(R_f[b], R, rtol=1e-12, atol=1e-12)


def test_delta_lstm_matches_transcription():
    layer = _layer(DeltaLSTM)
    x = _x()
    y, s = layer(x)
    fast_f, c_f = s["fast"].mT, s["c"]
    Ws, bs = layer.slow.weight, layer.slow.bias
    z64 = dict(dtype=torch.float64)
    for b in range(B):
        mats = {n: torch.zeros(D, D, **z64) for n in ("Wi", "Wz", "Wo", "Ri", "Rz", "Ro")}
        c, y_prev = torch.zeros(D, **z64), torch.zeros(D, **z64)
        for t in range(T):
            p = Ws @ x[b, t] + bs
            q = softmax(p[:D])
            for m, name in enumerate(mats):
                off = D + m * (2 * D + 1)
                k, v, beta = softmax(p[off:off + D]), p[off + D:off + 2 * D], p[off + 2 * D]
                mats[name] = delta(mats[name], k, v, sigmoid(beta))
            s = softmax(y_prev)
            i = sigmoid(mats["Wi"] @ q + mats["Ri"] @ s)
            z = sigmoid(mats["Wz"] @ q + mats["Rz"] @ s)
            o = sigmoid(mats["Wo"] @ q + mats["Ro"] @ s)
            c = (1 - i) * c + i * z
            y_prev = o * c
            torch.testing.assert_close(y[b, t], y_prev, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(fast_f[b], torch.stack(list(mats.values())),
                                   rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(c_f[b], c, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n_heads", [1, 2])
def test_rdn_matches_transcription(n_heads):
    torch.manual_seed(0)
    layer = RecurrentDeltaNet(I, RDNConfig(d_model=D, n_heads=n_heads)).double()
    x = _x()
    y, s = layer(x)
    W_f = s["W"].mT
    H, dh = n_heads, D // n_heads
    Wx, bx = layer.slow.weight.view(H, 3 * dh + 1, I), layer.slow.bias.view(H, 3 * dh + 1)
    for b in range(B):
        for h in range(H):
            Rs = layer.rec[h]  # head h's rows, reading head h's units only
            W, y_h = torch.zeros(dh, dh, dtype=torch.float64), torch.zeros(dh, dtype=torch.float64)
            for t in range(T):
                s = torch.tanh(y_h)
                p = Wx[h] @ x[b, t] + bx[h] + Rs @ s
                q, k, v = softmax(p[:dh]), softmax(p[dh:2 * dh]), p[2 * dh:3 * dh]
                W = delta(W, k, v, sigmoid(p[-1]))
                y_h = W @ q
                torch.testing.assert_close(y[b, t, h * dh:(h + 1) * dh], y_h,
                                           rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(W_f[b, h], W, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cls", [DeltaRNN, DeltaLSTM, RecurrentDeltaNet])
def test_intermediates_end_in_the_state(cls):
    layer = _layer(cls)
    x = _x()
    y, state = layer(x)
    y2, state2, inter = layer(x, return_intermediates=True)
    torch.testing.assert_close(y2, y)
    last = [getattr(inter, f)[:, -1] for f in vars(inter)]
    first = next(iter(state.values()))
    torch.testing.assert_close(last[0], first.mT)  # the state holds S = Wᵀ
