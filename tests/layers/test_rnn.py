"""Elman RNN / iRNN against a literal transcription, and the cell interface's checks."""

import pytest
import torch

from fastweights.layers.rnn import ElmanCell, ElmanConfig

B, T, I, D = 2, 5, 3, 4


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_elman_matches_transcription(nonlinearity):
    torch.manual_seed(0)
    layer = ElmanCell(I, ElmanConfig(d_model=D, nonlinearity=nonlinearity)).double()
    f = torch.tanh if nonlinearity == "tanh" else torch.relu
    x = torch.randn(B, T, I, dtype=torch.float64)
    y, s, inter = layer(x, return_intermediates=True)
    h_final = s["h"]
    for b in range(B):
        h = torch.zeros(D, dtype=torch.float64)
        for t in range(T):
            h = f(layer.inp.weight @ x[b, t] + layer.inp.bias + layer.rec @ h)
            torch.testing.assert_close(y[b, t], h, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(h_final[b], h, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(inter.h, y)


def test_irnn_init_and_checks():
    layer = ElmanCell(I, ElmanConfig(d_model=D, nonlinearity="relu", identity_init=True))
    torch.testing.assert_close(layer.rec.detach(), torch.eye(D))
    assert not layer.inp.bias.any()
    with pytest.raises(ValueError, match="nonlinearity"):
        ElmanConfig(nonlinearity="gelu")
    y, state = layer(torch.randn(2, 0, I))  # T = 0: no output, the initial state
    assert y.shape == (2, 0, D) and not state["h"].any()
