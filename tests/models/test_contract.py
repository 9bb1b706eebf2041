"""The model contract (``fastweights.models.base``) for every registered model, in fp64."""

import pytest
import torch

from fastweights import models
from fastweights.models.state import ModelState

NAMES = sorted(models.MODELS)
I, O, B, T = 5, 3, 3, 9
TOL = dict(rtol=1e-10, atol=1e-10)


def _model(name: str, **cfg):
    torch.manual_seed(0)
    # eval mode: training-mode noise (stsp-rnn) is not part of the contract, as dropout
    return models.build(name, d_model=8, input_size=I, output_size=O, **cfg).double().eval()


def _x(tokens: bool = True, b: int = B, t: int = T, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(I, (b, t), generator=g) if tokens
            else torch.randn(b, t, I, generator=g, dtype=torch.float64))


def _close_states(a: ModelState, b: ModelState) -> None:
    assert list(a) == list(b)
    for n in a:
        torch.testing.assert_close(a[n], b[n], **TOL, msg=n)


def _carried(model, state: ModelState, seen: int) -> int:
    return model.state_size(seen) if model.state_grows else model.state_size()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("tokens", [True, False])
def test_whole_equals_pieces_equals_steps(name, tokens):
    model = _model(name, tokens=tokens)
    x = _x(tokens)
    y, state = model(x)
    assert y.shape == (B, T, O) and isinstance(state, ModelState)
    # uneven pieces, two shorter than the short convolution's width (4)
    s, ys = None, []
    for a, b in [(0, 1), (1, 3), (3, 8), (8, 9)]:
        y_p, s = model(x[:, a:b], s)
        ys.append(y_p)
    torch.testing.assert_close(torch.cat(ys, 1), y, **TOL)
    _close_states(s, state)
    s, ys = model.init_state(B), []
    for t in range(T):
        y_t, s = model.step(x[:, t], s)
        ys.append(y_t)
    torch.testing.assert_close(torch.stack(ys, 1), y, **TOL)
    _close_states(s, state)
    assert state.size() == _carried(model, state, T)
    assert sum(t.numel() for t in state.values() if t.is_floating_point()) == B * state.size()


@pytest.mark.parametrize("name", NAMES)
def test_causal_and_every_parameter_learns(name):
    model = _model(name)
    x = _x()
    y, _ = model(x)
    x2 = x.clone()
    x2[:, 5] = (x2[:, 5] + 1) % I
    y2, _ = model(x2)
    torch.testing.assert_close(y2[:, :5], y[:, :5], rtol=0, atol=0)
    assert (y2[:, 5:] - y[:, 5:]).abs().max() > 0
    y.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing


@pytest.mark.parametrize("name", NAMES)
def test_masked_steps_write_nothing(name):
    """A row with masked steps (left padding, one in the middle) gives the outputs and the
    final state of the row without them; y is 0 at masked steps."""
    model = _model(name)
    x = _x()
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, :3] = False  # left padding
    mask[1, 4] = False
    mask[2, 7:] = False  # right padding
    y, state = model(x, mask=mask)
    assert not y[~mask].any()
    for b in range(B):
        y_b, s_b = model(x[b : b + 1, mask[b]])
        torch.testing.assert_close(y[b, mask[b]], y_b[0], **TOL)
        _close_states(_valid(model, state.select(torch.tensor([b]))), _valid(model, s_b))
    # one masked step by ``step`` leaves the state as it was, exactly
    _, s = model(x[:, :4])
    _, s2 = model.step(x[:, 4], s, mask=torch.tensor([True, False, True]))
    for n in s:
        if n.rsplit(".", 1)[-1] not in ("k", "v", "valid"):
            assert torch.equal(s2[n][1], s[n][1]), n


def _valid(model, state: ModelState) -> ModelState:
    """A one-row state with a KV cache's invalid entries dropped."""
    if not model.state_grows:
        return state
    out = dict(state)
    for n in state:
        if n.endswith(".valid"):
            keep = state[n][0]
            pre = n.removesuffix("valid")
            out[n] = state[n][:, keep]
            for kv in ("k", "v"):
                out[pre + kv] = state[pre + kv][:, :, keep]
    return ModelState(out)


@pytest.mark.parametrize("name", NAMES)
def test_packed_equals_alone(name):
    model = _model(name)
    lengths = [3, 1, 5]
    x = _x(b=1, t=sum(lengths))
    cu = torch.tensor([0, 3, 4, 9])
    y, state = model(x, cu_seqlens=cu)
    assert y.shape == (1, 9, O) and state.batch_size == 3
    for i, (a, b) in enumerate(zip(cu[:-1].tolist(), cu[1:].tolist(), strict=True)):
        y_i, s_i = model(x[:, a:b])
        torch.testing.assert_close(y[:, a:b], y_i, **TOL)
        _close_states(_valid(model, state.select(torch.tensor([i]))), _valid(model, s_i))


@pytest.mark.parametrize("name", NAMES)
def test_scored_runs_the_head_where_scored(name):
    model = _model(name)
    x = _x()
    scored = torch.rand(B, T, generator=torch.Generator().manual_seed(2)) < 0.3
    y, state = model(x)
    y_at, state_at = model(x, scored=scored)
    torch.testing.assert_close(y_at, y[scored], **TOL)
    _close_states(state_at, state)
    cu = torch.tensor([0, 3, 4, 9])
    torch.testing.assert_close(model(x[:1], cu_seqlens=cu, scored=scored[:1])[0],
                               model(x[:1], cu_seqlens=cu)[0][scored[:1]], **TOL)


@pytest.mark.parametrize("name", NAMES)
def test_select_and_reset(name):
    model = _model(name)
    x = _x()
    _, s = model(x[:, :4])
    y, _ = model(x[:, 4:], s)
    rows = torch.tensor([2, 0])
    y_sel, _ = model(x[rows, 4:], s.select(rows))
    torch.testing.assert_close(y_sel, y[rows], **TOL)
    ended = torch.tensor([True, False, False])
    # a reset row starts afresh (a KV cache keeps its slots, all invalid)
    y_reset, _ = model(x[:, 4:], s.reset(ended))
    fresh, _ = model(x[:1, 4:])
    torch.testing.assert_close(y_reset[:1], fresh, **TOL)
    torch.testing.assert_close(y_reset[1:], y[1:], **TOL)


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_is_a_value_error(name):
    model = _model(name)
    x = _x()
    _, s = model(x)
    with pytest.raises(ValueError, match="batch size"):
        model(x[:2], s)
    with pytest.raises(ValueError, match="dtype"):
        model(x, s.to(torch.float32))
    with pytest.raises(ValueError, match="ModelState"):
        model(x, dict(s))
    with pytest.raises(ValueError, match=r"outside \[0, 5\)"):
        model(x - 1)
    with pytest.raises(ValueError, match=r"outside \[0, 5\)"):
        model.step(torch.full((B,), I), s)
    with pytest.raises(ValueError, match="mask"):
        model(x, mask=torch.ones(B, T))
    with pytest.raises(ValueError, match="cu_seqlens"):
        model(x[:1], cu_seqlens=torch.tensor([0, 4, 8]))
    with pytest.raises(ValueError, match="scored"):
        model(x, scored=torch.ones(B, T + 1, dtype=torch.bool))
    other = next(n for n in NAMES if n != name and n != "stack")
    with pytest.raises(ValueError, match="state"):
        model(x, _model(other).init_state(B))


@pytest.mark.parametrize("field,value", [("d_model", "64"), ("d_model", 64.0),
                                         ("tokens", 1), ("input_size", 0)])
@pytest.mark.parametrize("name", NAMES)
def test_impossible_config_is_a_value_error(name, field, value):
    with pytest.raises(ValueError, match=field):
        models.make_config(name, **{field: value})


@pytest.mark.parametrize("name,field,value", [
    ("transformer", "mlp_ratio", 0), ("deltanet", "mlp_ratio", -1),
    ("transformer", "rope_base", 0.0), ("transformer", "rope_base", float("nan")),
    ("stack", "layers", ["deltanet", "lstm"]), ("stack", "layers", "deltanet")])
def test_impossible_values(name, field, value):
    with pytest.raises(ValueError, match=field):
        models.make_config(name, **{field: value})
