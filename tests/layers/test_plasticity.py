"""Ba et al.'s fast weights and Miconi et al.'s plastic RNN against literal transcriptions."""

import pytest
import torch

from fastweights.layers.plasticity import (
    BaFastWeights,
    BaFastWeightsConfig,
    PlasticRNN,
    PlasticRNNConfig,
)

B, T, I, D = 2, 6, 4, 5


def layer_norm(v, gain, bias, eps=1e-5):
    mu = v.mean()
    var = ((v - mu) ** 2).mean()
    return (v - mu) / torch.sqrt(var + eps) * gain + bias


@pytest.mark.parametrize("variant,inner_steps,activation",
                         [("paper", 1, "relu"), ("paper", 3, "tanh"), ("stpn", 1, "tanh"),
                          ("stpn", 2, "relu")])
def test_ba_fast_weights_matches_transcription(variant, inner_steps, activation):
    torch.manual_seed(0)
    c = BaFastWeightsConfig(d_model=D, decay=0.9, eta=0.4, inner_steps=inner_steps,
                            activation=activation, variant=variant)
    layer = BaFastWeights(I, c).double()
    with torch.no_grad():
        layer.rec.normal_(0, 0.5)
        layer.norm.weight.normal_(1, 0.1)
        layer.norm.bias.normal_(0, 0.1)
    f = torch.relu if activation == "relu" else torch.tanh
    ln = lambda v: layer_norm(v, layer.norm.weight, layer.norm.bias)  # noqa: E731
    x = torch.randn(B, T, I, dtype=torch.float64)
    y, s = layer(x)
    A_final = s["A"]
    for b in range(B):
        h = torch.zeros(D, dtype=torch.float64)
        A = torch.zeros(D, D, dtype=torch.float64)
        for t in range(T):
            A = 0.9 * A + 0.4 * torch.outer(h, h)
            p = layer.rec @ h + layer.inp.weight @ x[b, t] + layer.inp.bias
            hs = f(ln(p)) if variant == "stpn" else f(p)
            for _ in range(inner_steps):
                hs = f(ln(p + A @ hs))
            h = hs
            if variant == "stpn":  # the wrapper's generic plastic update after the step
                A = torch.clamp(0.9 * A + 0.4 * torch.outer(h, h), -1000, 1000)
            torch.testing.assert_close(y[b, t], h, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(A_final[b], A, rtol=1e-12, atol=1e-12)


def test_ba_stpn_init():
    """The STPN repository's init_weights: every parameter, LN gain and bias too, U(±1/√d)."""
    d = 30
    layer = BaFastWeights(I, BaFastWeightsConfig(d_model=d, variant="stpn"))
    for p in (layer.rec, layer.inp.weight, layer.inp.bias, layer.norm.weight, layer.norm.bias):
        assert p.abs().max() <= d ** -0.5 and p.abs().max() > 0.8 * d ** -0.5


@pytest.mark.parametrize("variant", ["maze", "simple-maze", "legacy"])
def test_plastic_rnn_matches_transcription(variant):
    torch.manual_seed(0)
    layer = PlasticRNN(I, PlasticRNNConfig(d_model=D, clip=0.3, variant=variant)).double()
    with torch.no_grad():
        layer.modulator.weight.normal_(0, 2.0)
        layer.rec.normal_(0, 0.5)
        layer.alpha.normal_(0, 0.5)
    x = torch.randn(B, T, I, dtype=torch.float64) * 2
    y, s, inter = layer(x, return_intermediates=True)
    hebb_final = s["hebb"]
    clipped = False
    for b in range(B):
        h = torch.zeros(D, dtype=torch.float64)
        hebb = torch.zeros(D, D, dtype=torch.float64)
        for t in range(T):
            h_new = torch.tanh(layer.inp.weight @ x[b, t] + layer.inp.bias
                               + (layer.rec + layer.alpha * hebb) @ h)
            m = torch.tanh(layer.modulator.weight[0] @ h_new + layer.modulator.bias[0])
            raw = hebb.clone()
            for i in range(D):  # postsynaptic i, presynaptic j
                eta = m if variant != "simple-maze" else \
                    layer.fanout.weight[i, 0] * m + layer.fanout.bias[i]
                for j in range(D):
                    raw[i, j] += eta * h_new[i] * h[j]
            clipped |= bool((raw.abs() > 0.3).any())
            hebb = torch.clamp(raw, -0.3, 0.3)
            h = h_new
            torch.testing.assert_close(y[b, t], h, rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(inter.modulation[b, t], m, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(hebb_final[b], hebb, rtol=1e-12, atol=1e-12)
    assert clipped  # the clip was exercised


@pytest.mark.parametrize("variant,clip,low,high", [
    ("maze", 1.0, 0.0, 0.01), ("simple-maze", 2.0, 0.0, 0.001),
    ("legacy", 1.0, -(30 ** -0.5), 30 ** -0.5)])
def test_plastic_rnn_init(variant, clip, low, high):
    d = 30
    layer = PlasticRNN(I, PlasticRNNConfig(d_model=d, variant=variant))
    assert layer.clip == clip
    for p in (layer.rec, layer.alpha):
        assert low <= p.min() and p.max() <= high and p.max() > 0.8 * high
    assert (layer.fanout is not None) == (variant == "simple-maze")
    assert PlasticRNN(I, PlasticRNNConfig(d_model=d, variant=variant, clip=0.5)).clip == 0.5


def test_ba_paper_init():
    layer = BaFastWeights(I, BaFastWeightsConfig(d_model=D))
    torch.testing.assert_close(layer.rec.detach(), 0.05 * torch.eye(D))
    with pytest.raises(ValueError, match="activation"):
        BaFastWeightsConfig(activation="gelu")
    with pytest.raises(ValueError, match="variant"):
        BaFastWeightsConfig(variant="hinton")
    with pytest.raises(ValueError, match="variant"):
        PlasticRNNConfig(variant="modul")
