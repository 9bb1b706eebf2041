import pytest
import torch

from fastweights import models
from fastweights.models.sizing import fit_width
from fastweights.models.state import ModelState


def _state_floats(state) -> int:
    if isinstance(state, torch.Tensor):
        return state.numel()
    if isinstance(state, ModelState):
        return state.size() * state.batch_size
    return sum(_state_floats(s) for s in state if s is not None)


@pytest.mark.parametrize("name", sorted(models.MODELS))
@pytest.mark.parametrize("tokens", [True, False])
def test_model_contract(name, tokens):
    torch.manual_seed(0)
    # eval mode: training-mode noise (stsp-rnn) or feature redraws are not part of the contract
    model = models.build(name, d_model=16, input_size=7, output_size=5,
                         tokens=tokens).double().eval()
    B, T = 3, 10
    x = torch.randint(7, (B, T)) if tokens else torch.randn(B, T, 7, dtype=torch.float64)
    y, state = model(x)
    assert y.shape == (B, T, 5)
    # step over the sequence equals the whole-sequence call
    s, ys = None, []
    for t in range(T):
        y_t, s = model.step(x[:, t], s)
        ys.append(y_t)
    torch.testing.assert_close(torch.stack(ys, 1), y, rtol=1e-10, atol=1e-10)
    # a sequence split in two with the state carried equals the whole
    y1, s1 = model(x[:, :6])
    y2, _ = model(x[:, 6:], s1)
    torch.testing.assert_close(torch.cat([y1, y2], 1), y, rtol=1e-10, atol=1e-10)
    # a growing state (a KV cache) reports its floats at a given length
    grows = getattr(model, "state_grows", False)
    assert _state_floats(state) == B * (model.state_size(T) if grows else model.state_size())
    # every parameter receives a gradient
    y.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing


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
    torch.testing.assert_close(inter.c[:, -1].transpose(0, 1), state[1])
