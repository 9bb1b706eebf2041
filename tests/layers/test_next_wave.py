"""The next-wave layers (``layers.rule_mixer`` and its subclasses) beyond the model contract."""

import pytest
import torch

from fastweights import models
from fastweights.layers.mesanet import MesaConfig, MesaLayer
from fastweights.layers.mlstm import MLSTMConfig, MLSTMLayer
from fastweights.layers.oja import OjaConfig, OjaLayer
from fastweights.layers.rule_mixer import RuleIntermediates
from fastweights.layers.rwkv7 import RWKV7Config, RWKV7TimeMix, token_shift
from fastweights.models.next_wave import SPECS

TOL = dict(rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_intermediates_end_at_the_state(name):
    torch.manual_seed(0)
    model = models.build(name, d_model=8, n_layers=2).double()
    x = torch.randint(37, (2, 5))
    y, state = model(x)
    y2, _, inter = model(x, return_intermediates=True)
    assert torch.equal(y, y2)
    for i, layer in enumerate(inter.layers):
        assert isinstance(layer, RuleIntermediates)
        for n, traj in layer.states.items():
            assert traj.shape[:2] == (2, 5)
            torch.testing.assert_close(traj[:, -1], state[f"layers.{i}.{n}"], **TOL)


def test_rwkv7_feeds_the_dplr_rule_as_the_paper():
    """a = −κ̂ with ‖κ̂‖ = 1 per head, b = κ̂ ⊙ a_rate with a_rate ∈ (0, 1), log w ∈ (−e^{−½}, 0)."""
    torch.manual_seed(0)
    layer = RWKV7TimeMix(RWKV7Config(d_model=16, n_heads=2)).double()
    _, _, inter = layer(torch.randn(2, 6, 16, dtype=torch.float64), return_intermediates=True)
    a, b, g = inter.args["a"], inter.args["b"], inter.args["g"]
    torch.testing.assert_close(a.norm(dim=-1), torch.ones(2, 6, 2, dtype=torch.float64))
    rate = b / -a
    assert bool(((rate > 0) & (rate < 1)).all())
    assert bool(((g < 0) & (g > -torch.exp(torch.tensor(-0.5)))).all())


def test_token_shift_skips_masked_steps():
    x = torch.arange(1.0, 7.0).view(1, 6, 1)
    last = torch.full((1, 1), -1.0)
    mask = torch.tensor([[False, True, True, False, True, False]])
    prev, new_last = token_shift(x, last, mask)
    assert prev[0, mask[0], 0].tolist() == [-1.0, 2.0, 3.0]
    assert new_last.item() == 5.0
    prev, new_last = token_shift(x, last, None)
    assert prev[0, :, 0].tolist() == [-1.0, 1, 2, 3, 4, 5] and new_last.item() == 6.0


def test_mlstm_soft_capped_gates_stay_finite_in_fp32():
    torch.manual_seed(0)
    layer = MLSTMLayer(MLSTMConfig(d_model=16, n_heads=2))
    with torch.no_grad():
        layer.igate.bias.fill_(50.0)
        layer.fgate.bias.fill_(-50.0)
    y, state = layer(10 * torch.randn(2, 40, 16))
    assert torch.isfinite(y).all() and all(torch.isfinite(s).all() for s in state.values())


@pytest.mark.parametrize("config,field", [
    (lambda: MLSTMConfig(d_model=3, n_heads=3), "proj_factor"),
    (lambda: MLSTMConfig(gate_softcap=0.0), "gate_softcap"),
    (lambda: RWKV7Config(conv_size=4), "conv_size"),
    (lambda: RWKV7Config(rank=0), "rank"),
    (lambda: RWKV7Config(d_model=10, n_heads=4), "d_model"),
    (lambda: MesaConfig(cg_steps=0), "cg_steps")])
def test_impossible_configs(config, field):
    with pytest.raises(ValueError, match=field):
        config()


def test_oja_decay_is_optional():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 8)
    for decay in (False, True):
        layer = OjaLayer(OjaConfig(d_model=8, n_heads=2, decay=decay))
        _, _, inter = layer(x, return_intermediates=True)
        g = inter.args["g"]
        assert bool((g < 0).all()) if decay else not g.any()


def test_mesa_conjugate_gradient_read():
    """The paper's CG read: d or more iterations give the exact solve (CG is exact after d
    steps, d = head_dim), fewer an approximation."""
    torch.manual_seed(0)
    x = torch.randn(2, 9, 8, dtype=torch.float64)
    exact = MesaLayer(MesaConfig(d_model=8, n_heads=2)).double()
    outs = {}
    for steps in (1, 4, 12):
        layer = MesaLayer(MesaConfig(d_model=8, n_heads=2, cg_steps=steps)).double()
        layer.load_state_dict(exact.state_dict())
        outs[steps] = layer(x)[0]
    y = exact(x)[0]
    assert torch.allclose(outs[4], y, atol=1e-10) and torch.allclose(outs[12], y, atol=1e-10)
    assert not torch.allclose(outs[1], y, atol=1e-4)
