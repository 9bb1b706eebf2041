"""Delta RNN, Delta LSTM and RDN against literal per-sequence transcriptions of their
equations (float64)."""

import pytest
import torch

from fastweights.layers.recurrent_fwp import (
    DeltaLSTM,
    DeltaRNN,
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
    y, (W_f, R_f, _) = layer(x)
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
    y, (fast_f, c_f, _) = layer(x)
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


def test_rdn_matches_transcription():
    layer = _layer(RecurrentDeltaNet)
    x = _x()
    y, (W_f, _) = layer(x)
    Wx, bx, Rs = layer.slow.weight, layer.slow.bias, layer.rec.weight
    for b in range(B):
        W, y_prev = torch.zeros(D, D, dtype=torch.float64), torch.zeros(D, dtype=torch.float64)
        for t in range(T):
            s = torch.tanh(y_prev)
            p = Wx @ x[b, t] + bx + Rs @ s
            q, k, v, beta = softmax(p[:D]), softmax(p[D:2 * D]), p[2 * D:3 * D], sigmoid(p[-1])
            W = delta(W, k, v, beta)
            y_prev = W @ q
            torch.testing.assert_close(y[b, t], y_prev, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(W_f[b], W, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cls", [DeltaRNN, DeltaLSTM, RecurrentDeltaNet])
def test_intermediates_end_in_the_state(cls):
    layer = _layer(cls)
    x = _x()
    y, state = layer(x)
    y2, state2, inter = layer(x, return_intermediates=True)
    torch.testing.assert_close(y2, y)
    last = [getattr(inter, f)[:, -1] for f in vars(inter)]
    torch.testing.assert_close(last[0], state[0])
