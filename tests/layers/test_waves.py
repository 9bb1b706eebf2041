"""Traveling-wave memory and wave-RNN against literal transcriptions; a hand-set TWM-LBC
solves repeat-copy and a generalised Fibonacci system exactly at any horizon."""

import math

import pytest
import torch

from fastweights import models
from fastweights.layers.waves import TravelingWaveMemory, TWMConfig, WaveRNN, WaveRNNConfig
from fastweights.tasks.hds import HDS, HDSConfig

B, T, I = 2, 7, 4


def softmax(v):
    e = torch.exp(v - v.max())
    return e / e.sum()


@pytest.mark.parametrize("boundary", ["lbc", "sbc"])
@pytest.mark.parametrize("phase", ["flag", "sum"])
def test_twm_matches_transcription(boundary, phase):
    torch.manual_seed(0)
    s, d = 3, 4
    layer = TravelingWaveMemory(I, TWMConfig(d_model=d, n_columns=s, boundary=boundary,
                                             phase=phase)).double()
    x = torch.randn(B, T, I, dtype=torch.float64)
    x[:, 4:, -1] = 1.0  # a go flag in the last feature from step 4 on
    x[:, :4, -1] = 0.0
    y, state, inter = layer(x, return_intermediates=True)
    h_final = state["field"]
    for b in range(B):
        cols = [torch.zeros(d, dtype=torch.float64) for _ in range(s)]  # oldest first
        for t in range(T):
            if boundary == "lbc":
                f = sum(layer.A[i] @ cols[i] for i in range(s))
            else:
                q = layer.query.weight @ cols[-1]
                scores = torch.stack([q @ (layer.key.weight @ cols[i] + layer.pos[i])
                                      for i in range(s)]) / math.sqrt(d)
                a = softmax(scores)
                f = sum(a[i] * (layer.value.weight @ cols[i]) for i in range(s))
            u = layer.inp.weight @ x[b, t]
            g = x[b, t, -1]
            start = (1 - g) * u + g * f if phase == "flag" else u + f
            cols = cols[1:] + [start]
            torch.testing.assert_close(y[b, t], start, rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(inter.field[b, t], torch.stack(cols),
                                       rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(h_final[b], torch.stack(cols), rtol=1e-12, atol=1e-12)


def hand_set_twm(d, s, transition):
    """A TWM-LBC model that loads x during the input phase and then writes
    Σ_i transition[i] · h_i (h_1 the oldest column) at the start column, read out as is."""
    model = models.build("twm", d_model=d, n_columns=s, input_size=d + 1, output_size=d,
                         tokens=False).double()
    with torch.no_grad():
        model.cell.inp.weight.copy_(torch.cat([torch.eye(d), torch.zeros(d, 1)], 1))
        model.cell.A.copy_(torch.stack([c * torch.eye(d) for c in transition]))
        model.head.weight.copy_(torch.eye(d))
        model.head.bias.zero_()
    return model


@pytest.mark.parametrize("horizon", [1, 9, 100])
def test_hand_set_lbc_reproduces_repeat_copy(horizon):
    d, s = 5, 4
    task = HDS(HDSConfig(dim=d, n_vectors=s, horizon=horizon, system="repeat-copy"))
    x, y = task.sample(8, torch.Generator().manual_seed(0))
    model = hand_set_twm(d, s, [1.0] + [0.0] * (s - 1))  # h_new = h_1 = y(t − s)
    with torch.no_grad():
        out, _ = model(x.double())
    assert torch.equal(out[:, s:], y[:, s:].double())
    assert task.metrics(out.float(), y)["sequence_accuracy"] == 1.0


@pytest.mark.parametrize("horizon", [1, 9, 40])
def test_hand_set_lbc_reproduces_generalised_fibonacci(horizon):
    """y(t) = y(t−1) + … + y(t−s), the real-valued (linear) system; integers stay exact in
    float64 over these horizons. (The ``hds`` task's ``fibonacci`` is its mod-2 form, a
    product in the ±1 code, which no linear boundary computes.)"""
    d, s = 4, 3
    g = torch.Generator().manual_seed(0)
    seq = [torch.randint(2, (6, d), generator=g).double() * 2 - 1 for _ in range(s)]
    for _ in range(horizon):
        seq.append(sum(seq[-s:]))
    seq = torch.stack(seq, 1)  # [6, s + H, d]
    x = torch.zeros(6, s + horizon, d + 1, dtype=torch.float64)
    x[:, :s, :d] = seq[:, :s]
    x[:, s:, d] = 1.0
    out, _ = hand_set_twm(d, s, [1.0] * s)(x)
    assert torch.equal(out[:, s:], seq[:, s:])
    if horizon >= 20:
        assert seq.abs().max() > 1e6  # the values did grow


@pytest.mark.parametrize("variant", ["authors", "solo", "depthwise"])
def test_wave_rnn_matches_transcription(variant):
    torch.manual_seed(0)
    c, n = 2, 5
    layer = WaveRNN(I, WaveRNNConfig(d_model=n, n_channels=c, variant=variant)).double()
    with torch.no_grad():
        layer.u.normal_()
        layer.inp.weight.normal_()
    x = torch.randn(B, T, I, dtype=torch.float64)
    y, s = layer(x)
    h_final = s["field"]
    u = layer.u.tolist()
    if variant != "depthwise":  # a circular Conv1d over the channels, kernel 3, its own bias
        ub = layer.u_bias.tolist()

        def conv(h, a, i):
            return ub[a] + sum(u[a][a2][j] * h[a2][(i + j - 1) % n]
                               for a2 in range(c) for j in range(3))
    else:
        assert layer.u_bias is None

        def conv(h, a, i):
            return sum(u[a][j] * h[a][(i + j - 1) % n] for j in range(3))
    for b in range(B):
        h = [[0.0] * n for _ in range(c)]
        for t in range(T):
            drive = (layer.inp.weight @ x[b, t] + layer.inp.bias).tolist()
            h = [[max(0.0, drive[a * n + i] + conv(h, a, i)) for i in range(n)]
                 for a in range(c)]
            torch.testing.assert_close(y[b, t], torch.tensor(h, dtype=torch.float64).flatten(),
                                       rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(h_final[b], torch.tensor(h, dtype=torch.float64),
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("variant,step", [("authors", -1), ("solo", -1), ("depthwise", 1)])
def test_wave_rnn_init_is_a_traveling_wave(variant, step):
    """With u at its init (a one-step shift) and no drive, a bump travels one position per
    step around the ring: towards lower indices with the authors' "fwd" kernel, higher with
    the mirrored depthwise one."""
    layer = WaveRNN(1, WaveRNNConfig(d_model=6, n_channels=2, variant=variant)).double()
    with torch.no_grad():
        layer.inp.weight.zero_()
        layer.inp.bias.zero_()
        if layer.u_bias is not None:
            layer.u_bias.zero_()
    h0 = torch.zeros(1, 2, 6, dtype=torch.float64)
    h0[0, :, 0] = 1.0
    _, _, inter = layer(torch.zeros(1, 8, 1, dtype=torch.float64), {"field": h0},
                        return_intermediates=True)
    for ch in range(2):
        peaks = inter.field[0, :, ch].argmax(-1).tolist()
        assert peaks == [(step * (t + 1)) % 6 for t in range(8)]


def test_wave_rnn_input_inits():
    """solo_init: every input drives position 0 of every channel with weight 1, no bias;
    otherwise W_x ~ N(0, 0.001²)."""
    w = WaveRNN(50, WaveRNNConfig(d_model=20, n_channels=4)).inp.weight.detach()
    assert abs(w.std().item() - 0.001) < 1e-4
    c, n, i = 3, 4, 5
    layer = WaveRNN(i, WaveRNNConfig(d_model=n, n_channels=c, variant="solo"))
    w = layer.inp.weight.detach().view(c, n, i)
    assert torch.equal(w[:, 0], torch.ones(c, i))
    assert torch.equal(w[:, 1:], torch.zeros(c, n - 1, i))
    assert torch.equal(layer.inp.bias.detach(), torch.zeros(c * n))
    with pytest.raises(ValueError, match="variant"):
        WaveRNNConfig(variant="fwd")


def test_config_checks():
    with pytest.raises(ValueError, match="boundary"):
        TWMConfig(boundary="nbc")
    with pytest.raises(ValueError, match="phase"):
        TWMConfig(phase="steps")
