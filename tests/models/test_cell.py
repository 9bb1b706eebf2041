"""The cell model shape: one-hot input, readout, sizing to the STPN paper's ~2k parameters,
and intermediates for every cell model. (The model contract itself runs for every registered
model in test_models.py.)"""

import dataclasses

import pytest
import torch

from fastweights import models
from fastweights.models import cell
from fastweights.models.sizing import fit_width

NAMES = sorted(cell.SPECS)


def test_every_cell_model_is_registered():
    for name in NAMES:
        assert models.MODELS[name] is cell.SPECS[name]
        assert cell.SPECS[name].paper


@pytest.mark.parametrize("name", NAMES)
def test_intermediates(name):
    torch.manual_seed(0)
    model = models.build(name, d_model=8, input_size=6, output_size=3).double()
    x = torch.randint(6, (2, 7))
    y, state = model(x)
    y2, state2, inter = model(x, return_intermediates=True)
    torch.testing.assert_close(y2, y, rtol=0, atol=0)
    for n in state:
        torch.testing.assert_close(state[n], state2[n], rtol=0, atol=0)
    assert dataclasses.is_dataclass(inter)
    for field in dataclasses.fields(inter):
        assert getattr(inter, field.name).shape[:2] == (2, 7), field.name
    # intermediates of a sequence run in two pieces are those of the whole
    _, s1, i1 = model(x[:, :3], return_intermediates=True)
    _, _, i2 = model(x[:, 3:], s1, return_intermediates=True)
    for field in dataclasses.fields(inter):
        torch.testing.assert_close(
            torch.cat([getattr(i1, field.name), getattr(i2, field.name)], 1),
            getattr(inter, field.name), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_tokens_are_one_hot_inputs(name):
    """The cell reads the raw one-hot token: no embedding parameters, and a token model equals
    the feature model fed one-hot rows."""
    tok = models.build(name, d_model=8, input_size=6, output_size=3).double()
    feat = models.build(name, d_model=8, input_size=6, output_size=3, tokens=False).double()
    feat.load_state_dict(tok.state_dict())
    x = torch.randint(6, (2, 5))
    torch.testing.assert_close(tok(x)[0], feat(torch.eye(6, dtype=torch.float64)[x])[0])


def test_sized_to_the_stpn_papers_budget():
    """Every cell model can be sized to ~2k parameters on the associative-retrieval task's
    37 input symbols and 10 classes; the STPNr lands near the paper's 11 hidden units."""
    widths = {}
    for name in NAMES:
        w = widths[name] = fit_width(name, 2_000, input_size=37, output_size=10)
        n = models.build(name, d_model=w, input_size=37, output_size=10).num_params()
        assert abs(n - 2_000) < 0.15 * 2_000, (name, w, n)
    assert 10 <= widths["stpn"] <= 13


def test_stpn_energy_and_trace():
    torch.manual_seed(0)
    model = models.build("stpn", d_model=5, input_size=4).double()
    x = torch.randint(4, (3, 6))
    _, state, inter = model(x, return_intermediates=True)
    F = state["F"]
    assert inter.energy.shape == (3, 6) and (inter.energy > 0).all()
    torch.testing.assert_close(inter.F[:, -1], F)
    assert inter.F.shape == (3, 6, 5, 4 + 5)
