import pytest
import torch

from fastweights import models
from fastweights.models.sizing import fit_width


def test_input_validation():
    model = models.build("deltanet", d_model=16, input_size=7)
    with pytest.raises(ValueError, match=r"x must have shape \[B, T\]"):
        model(torch.randint(7, (2, 3, 4)))
    with pytest.raises(ValueError, match="integer token ids"):
        model(torch.randn(2, 3))
    with pytest.raises(ValueError, match="unknown model 'deltanett'"):
        models.build("deltanett")
    with pytest.raises(ValueError, match=r"no config field\(s\) \['width'\]"):
        models.build("lstm", width=3)


def test_fit_width():
    for name in models.MODELS:
        w = fit_width(name, 20_000, input_size=37, output_size=10)
        n = models.build(name, d_model=w, input_size=37, output_size=10).num_params()
        assert abs(n - 20_000) < 0.15 * 20_000, (name, w, n)
    with pytest.raises(ValueError, match="over the budget"):
        fit_width("deltanet", 10)


def test_lstm_intermediates():
    model = models.build("lstm", d_model=8, n_layers=2).double()
    x = torch.randint(37, (2, 5))
    y, state = model(x)
    y2, state2, inter = model(x, return_intermediates=True)
    torch.testing.assert_close(y2, y)
    assert inter.h.shape == inter.c.shape == (2, 5, 2, 8)
    torch.testing.assert_close(inter.c[:, -1], state["c"])


@pytest.mark.parametrize("name", sorted(models.MODELS))
def test_every_config_pickles(name):
    """Sweeps and reproductions send experiments to worker processes by pickle."""
    import pickle

    config = models.make_config(name, input_size=5, output_size=5, tokens=True)
    assert pickle.loads(pickle.dumps(config)) == config
