"""Hybrids are configuration: cells and mixers in one stack, and mixers as cells."""

import torch

from fastweights import models
from fastweights.layers.cell import CellLayer, MixerCell
from fastweights.layers.fast_weight import FastWeightLayer
from fastweights.layers.stpn import STPN


def test_hybrid_of_delta_stpn_and_attention_trains():
    """A delta layer, an STPN cell and attention in one stack learn to echo the previous
    token: the loss falls within a few steps."""
    torch.manual_seed(0)
    model = models.build("stack", layers=["deltanet", "stpn", "transformer"], d_model=16,
                         input_size=6, output_size=6)
    assert isinstance(model.blocks[1].mixer, CellLayer)
    assert isinstance(model.blocks[1].mixer.cell, STPN)
    assert model.state_grows  # the attention layer's KV cache
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(25):
        x = torch.randint(6, (8, 10), generator=g)
        y, _ = model(x)
        loss = torch.nn.functional.cross_entropy(y[:, 1:].reshape(-1, 6), x[:, :-1].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5, losses


def test_every_cell_is_a_stack_layer():
    names = [n for n, s in models.MODELS.items() if s.layer is not None]
    assert {"rdn", "srwm", "stpn", "wave-rnn", "deltanet", "transformer"} <= set(names)
    torch.manual_seed(0)
    model = models.build("stack", layers=["rdn", "wave-rnn", "srwm"], d_model=8).double()
    x = torch.randint(37, (2, 5))
    y, state = model(x)
    assert "layers.2.W" in state and "layers.1.field" in state
    s, ys = None, []
    for t in range(5):
        y_t, s = model.step(x[:, t], s)
        ys.append(y_t)
    torch.testing.assert_close(torch.stack(ys, 1), y, rtol=1e-10, atol=1e-10)


def test_a_mixer_is_a_cell():
    """A DeltaNet layer as a RecurrentCell: its step by step equals the layer's scan."""
    torch.manual_seed(0)
    layer = models.MODELS["deltanet"].layer(16, 4).double()
    assert isinstance(layer, FastWeightLayer)
    cell = MixerCell(layer, out_size=16)
    x = torch.randn(2, 7, 16, dtype=torch.float64)
    y, state = cell.scan(x)
    s, ys = cell.init_state(2, dtype=torch.float64), []
    for x_t in x.unbind(1):
        y_t, s = cell.step(x_t, s)
        ys.append(y_t)
    torch.testing.assert_close(torch.stack(ys, 1), y, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(s["S"], state["S"], rtol=1e-10, atol=1e-10)
    assert cell.state_size() == layer.state_size()
