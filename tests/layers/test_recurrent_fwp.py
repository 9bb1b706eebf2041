"""Delta RNN, Delta LSTM and RDN against literal per-sequence transcriptions of their
equations (float64)."""

import pytest
import torch

from fastweights.layers.recurrent_fwp import (
    DeltaLSTM,
    DeltaLSTMConfig,
    DeltaRNN,
    DeltaRNNConfig,
    RDNConfig,
    RecurrentDeltaNet,
)

B, T, I, D = 2, 6, 5, 4


def softmax(v):
    e = torch.exp(v - v.max())
    return e / e.sum()


def sigmoid(v):
    return 1 / (1 + torch.exp(-v))


def elu_p1_sum(v):
    """(elu(v) + 1) / its sum, elementwise from the definition of elu."""
    e = torch.where(v > 0, v + 1, torch.exp(v))
    return e / e.sum()


def delta(W, k, v, beta):
    return W + beta * torch.outer(v - W @ k, k)


CONFIGS = {DeltaRNN: DeltaRNNConfig, DeltaLSTM: DeltaLSTMConfig, RecurrentDeltaNet: RDNConfig}


def _layer(cls, **kw):
    torch.manual_seed(0)
    return cls(I, CONFIGS[cls](d_model=D, **kw)).double()


def _x():
    return torch.randn(B, T, I, dtype=torch.float64, generator=torch.Generator().manual_seed(1))


def _slow(layer, x_bt, h, width):
    """Head h's slow-net output for one input (bias only where the layer has one)."""
    W = layer.slow.weight.view(-1, width, I)[h]
    bias = layer.slow.bias
    return W @ x_bt + (0 if bias is None else bias.view(-1, width)[h])


@pytest.mark.parametrize("variant,n_heads", [("lm", 2), ("lm", 1), ("rl", 1), ("rl", 2)])
def test_delta_rnn_matches_transcription(variant, n_heads):
    layer = _layer(DeltaRNN, variant=variant, n_heads=n_heads)
    assert (layer.slow.bias is None) == (variant == "lm")
    fmap = elu_p1_sum if variant == "lm" else softmax
    x = _x()
    y, s = layer(x)
    W_f, R_f = s["W"].mT, s["R"].mT  # the state holds S = Wᵀ
    H, dh = n_heads, D // n_heads
    for b in range(B):
        for h in range(H):
            W = R = torch.zeros(dh, dh, dtype=torch.float64)
            y_h = torch.zeros(dh, dtype=torch.float64)
            for t in range(T):
                p = _slow(layer, x[b, t], h, 5 * dh + 2)
                q, k, v = fmap(p[:dh]), fmap(p[dh:2 * dh]), p[2 * dh:3 * dh]
                kr, vr = softmax(p[3 * dh:4 * dh]), p[4 * dh:5 * dh]
                beta, beta_r = sigmoid(p[5 * dh]), sigmoid(p[5 * dh + 1])
                W = delta(W, k, v, beta)
                R = delta(R, kr, vr, beta_r)
                y_h = W @ q + R @ softmax(y_h)
                torch.testing.assert_close(y[b, t, h * dh:(h + 1) * dh], y_h,
                                           rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(W_f[b, h], W, rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(R_f[b, h], R, rtol=1e-12, atol=1e-12)


NAMES = ("Wi", "Wz", "Wo", "Ri", "Rz", "Ro")


def _v2_step(p, dh):
    """v2: one shared softmax query; (key, value, rate) per matrix; σ candidate."""
    q = softmax(p[:dh])
    kvb = {}
    for m, name in enumerate(NAMES):
        off = dh + m * (2 * dh + 1)
        kvb[name] = softmax(p[off:off + dh]), p[off + dh:off + 2 * dh], sigmoid(p[off + 2 * dh])
    return {"i": q, "z": q, "o": q}, kvb, sigmoid


def _v4_step(p, dh):
    """v4: per gate g, [q, k, v, kʳ, vʳ] blocks, then rates (β_i, βʳ_i, β_z, βʳ_z, β_o, βʳ_o);
    ELU+1 sum-normalised q and k, softmax kʳ, identity candidate."""
    queries, kvb = {}, {}
    for g, gate in enumerate("izo"):
        blk = p[g * 5 * dh:(g + 1) * 5 * dh]
        queries[gate] = elu_p1_sum(blk[:dh])
        kvb["W" + gate] = (elu_p1_sum(blk[dh:2 * dh]), blk[2 * dh:3 * dh],
                           sigmoid(p[15 * dh + 2 * g]))
        kvb["R" + gate] = (softmax(blk[3 * dh:4 * dh]), blk[4 * dh:5 * dh],
                           sigmoid(p[15 * dh + 2 * g + 1]))
    return queries, kvb, lambda a: a


@pytest.mark.parametrize("variant,n_heads", [("v4", 2), ("v4", 1), ("v2", 1), ("v2", 2)])
def test_delta_lstm_matches_transcription(variant, n_heads):
    layer = _layer(DeltaLSTM, variant=variant, n_heads=n_heads)
    assert (layer.slow.bias is None) == (variant == "v4")
    step = _v4_step if variant == "v4" else _v2_step
    x = _x()
    y, s = layer(x)
    fast_f, c_f = s["fast"].mT, s["c"]
    H, dh = n_heads, D // n_heads
    width = 15 * dh + 6 if variant == "v4" else dh + 6 * (2 * dh + 1)
    z64 = dict(dtype=torch.float64)
    for b in range(B):
        for h in range(H):
            mats = {n: torch.zeros(dh, dh, **z64) for n in NAMES}
            c, y_h = torch.zeros(dh, **z64), torch.zeros(dh, **z64)
            for t in range(T):
                queries, kvb, cand = step(_slow(layer, x[b, t], h, width), dh)
                for name, (k, v, beta) in kvb.items():
                    mats[name] = delta(mats[name], k, v, beta)
                s_ = softmax(y_h)
                i = sigmoid(mats["Wi"] @ queries["i"] + mats["Ri"] @ s_)
                z = cand(mats["Wz"] @ queries["z"] + mats["Rz"] @ s_)
                o = sigmoid(mats["Wo"] @ queries["o"] + mats["Ro"] @ s_)
                c = (1 - i) * c + i * z
                y_h = o * c
                torch.testing.assert_close(y[b, t, h * dh:(h + 1) * dh], y_h,
                                           rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(fast_f[b, :, h], torch.stack([mats[n] for n in NAMES]),
                                       rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(c_f[b, h * dh:(h + 1) * dh], c, rtol=1e-12, atol=1e-12)


def test_variant_and_heads_are_checked():
    with pytest.raises(ValueError, match="variant"):
        DeltaRNNConfig(variant="v4")
    with pytest.raises(ValueError, match="variant"):
        DeltaLSTMConfig(variant="lm")
    with pytest.raises(ValueError, match="n_heads"):
        DeltaLSTMConfig(d_model=6, n_heads=4)


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
