import pytest
import torch

from fastweights import models
from fastweights.layers.fast_weight import FastWeightIntermediates, FastWeightLayer
from fastweights.models.stack import FastWeightModel

FWP = [n for n, spec in models.MODELS.items() if spec.cls is FastWeightModel]


def test_every_preset_registered_with_paper():
    expected = {"linear-transformer", "deltanet", "gated-deltanet", "retnet", "gla",
                "mamba2-style", "deltaproduct", "transformer"}
    assert expected <= set(models.MODELS)
    assert all(models.MODELS[n].paper for n in expected)


@pytest.mark.parametrize("name", FWP + ["transformer"])
def test_intermediates(name):
    torch.manual_seed(0)
    model = models.build(name, d_model=16, n_layers=2).double()
    x = torch.randint(37, (2, 5))
    y, state = model(x)
    y2, state2, inter = model(x, return_intermediates=True)
    assert torch.equal(y, y2)
    assert len(inter.layers) == 2 and inter.h.shape == (2, 5, 2, 16)
    if name != "transformer":
        assert isinstance(inter.layers[0], FastWeightIntermediates)
        for i, layer in enumerate(inter.layers):
            assert layer.S.shape[:2] == (2, 5)
            torch.testing.assert_close(layer.S[:, -1], state[f"layers.{i}.S"],
                                       rtol=1e-10, atol=1e-10)
    else:
        assert inter.layers[0].attn.shape == (2, 4, 5, 5)


def test_fast_path_pays_nothing(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("trajectory computed on the fast path")
    monkeypatch.setattr(FastWeightLayer, "trajectory", fail)
    model = models.build("gated-deltanet", d_model=16)
    model(torch.randint(37, (2, 5)))


@pytest.mark.parametrize("positions", ["learned", "none"])
def test_transformer_positions(positions):
    torch.manual_seed(0)
    model = models.build("transformer", d_model=16, positions=positions, max_len=8).double()
    x = torch.randint(37, (2, 8))
    y, state = model(x)
    s, ys = None, []
    for t in range(8):
        y_t, s = model.step(x[:, t], s)
        ys.append(y_t)
    torch.testing.assert_close(torch.stack(ys, 1), y, rtol=1e-10, atol=1e-10)
    assert model.state_size(8) == 8 * model.state_size() == 2 * 2 * 16 * 8
    if positions == "learned":
        with pytest.raises(ValueError, match="max_len"):
            model.step(x[:, 0], state)


def test_transformer_positions_tell_order():
    """With one layer and no positions (NoPE), the last output is a set function of the
    prefix; with rope, swapping two earlier tokens changes it."""
    torch.manual_seed(0)
    x = torch.tensor([[1, 2, 3, 4]])
    swapped = torch.tensor([[2, 1, 3, 4]])
    for positions, differ in (("rope", True), ("none", False)):
        model = models.build("transformer", d_model=16, n_layers=1, positions=positions)
        model.double()
        diff = (model(x)[0][:, -1] - model(swapped)[0][:, -1]).abs().max()
        assert (diff > 1e-6) == differ


def test_bad_transformer_config():
    with pytest.raises(ValueError, match="positions"):
        models.build("transformer", positions="alibi")
