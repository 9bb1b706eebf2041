"""The Tsodyks–Markram synapse and the Dale's-law STSP rate RNN (``stsp-rnn``)."""

import pytest
import torch

from fastweights import models
from fastweights.layers.stsp import STSPRNN, STSPConfig, steady_state, synapse_step
from fastweights.models.state import ModelState


@pytest.mark.parametrize("rate", [0.0, 5.0, 40.0])
def test_synapse_converges_to_the_closed_form_steady_state(rate):
    cfg = STSPConfig()
    dt = cfg.dt
    U = torch.tensor([cfg.U_fac, cfg.U_dep], dtype=torch.float64)
    tau_x = torch.tensor([cfg.tau_x_fac, cfg.tau_x_dep], dtype=torch.float64)
    tau_u = torch.tensor([cfg.tau_u_fac, cfg.tau_u_dep], dtype=torch.float64)
    x, u = torch.ones(1, 2, dtype=torch.float64), U.clone()[None]
    r = torch.full((1, 2), rate, dtype=torch.float64)
    for _ in range(3000):  # 30 s, many times the slowest τ
        x, u = synapse_step(x, u, r, U, dt / tau_x, dt / tau_u, dt / 1000)
    x_star, u_star = steady_state(rate, U, tau_x / 1000, tau_u / 1000)
    torch.testing.assert_close(u[0], u_star, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(x[0], x_star, rtol=1e-9, atol=1e-9)
    if rate > 0:  # facilitation raises u above U, depression lowers x below 1
        assert (u[0] > U).all() and (x[0] < 1).all()


def test_utilisation_transient_is_the_discrete_exponential():
    # u is a linear recurrence under a constant rate: u_n − u* = (1 − α_u − Δ U r)^n (U − u*)
    U, tau_u, r, dt = 0.15, 1500.0, 20.0, 10.0
    Ut = torch.tensor([U], dtype=torch.float64)
    x, u = torch.ones(1, 1, dtype=torch.float64), Ut[None].clone()
    a_u, a_x = torch.tensor([dt / tau_u]), torch.tensor([dt / 200.0])
    _, u_star = steady_state(r, U, 0.2, tau_u / 1000)
    rho = 1 - dt / tau_u - dt / 1000 * U * r
    for n in range(1, 200):
        x, u = synapse_step(x, u, torch.full((1, 1), r, dtype=torch.float64), Ut,
                            a_x.double(), a_u.double(), dt / 1000)
        torch.testing.assert_close(u[0, 0], u_star + rho ** n * (U - u_star))


def test_dale_law_signs_and_no_self_connections():
    cell = STSPRNN(5, STSPConfig(d_model=10))
    (W,) = cell.recurrent_weights()
    assert cell.n_exc == 8
    assert (W[:8] >= 0).all() and (W[8:] <= 0).all() and (W.diagonal() == 0).all()
    # half facilitating (even units), half depressing
    assert cell.U[0::2].eq(0.15).all() and cell.U[1::2].eq(0.45).all()


def test_state_is_a_model_state_that_resets_to_rest():
    model = models.build("stsp-rnn", tokens=False, d_model=10, input_size=4, output_size=3).eval()
    x = torch.rand(3, 7, 4) * 4
    _, state = model(x)
    assert isinstance(state, ModelState) and set(state) == {"h", "x", "u"}
    assert state.size() == model.state_size() == 30
    rest = state.reset(torch.tensor([True, False, True]))
    torch.testing.assert_close(rest["x"][0], torch.ones(10))
    torch.testing.assert_close(rest["u"][2], model.cell.U)
    torch.testing.assert_close(rest["h"][1], state["h"][1])
    with pytest.raises(ValueError, match="batch size"):
        model(x[:2], state)
    with pytest.raises(ValueError, match="state must be a ModelState"):
        model(x, (state["h"],))


def test_intermediates_and_rate_cost():
    model = models.build("stsp-rnn", tokens=False, d_model=10, input_size=4, output_size=3).eval()
    x = torch.rand(2, 6, 4)
    y, _, inter = model(x, return_intermediates=True)
    assert inter.h.shape == inter.efficacy.shape == (2, 6, 10)
    torch.testing.assert_close(inter.efficacy, inter.syn_x * inter.syn_u)
    # the readout sees the excitatory units only, with non-negative weights
    torch.testing.assert_close(y, inter.h[..., :8] @ torch.relu(model.head.weight[0])
                               + model.head.bias)
    torch.testing.assert_close(model.rate_loss(inter), 2e-2 * inter.h.square().mean())


def test_noise_only_in_training_mode():
    model = models.build("stsp-rnn", tokens=False, d_model=10, input_size=4, output_size=3)
    x = torch.rand(2, 5, 4)
    assert not torch.equal(model(x)[0], model(x)[0])
    model.eval()
    assert torch.equal(model(x)[0], model(x)[0])


@pytest.mark.parametrize("bad", [dict(d_model=0), dict(exc_fraction=1.0), dict(dt=0),
                                 dict(synapses="both"), dict(U_fac=0), dict(dt=200.0)])
def test_config_validation(bad):
    with pytest.raises(ValueError):
        STSPConfig(**bad)


def test_a_population_runs_each_network_on_its_own_rows():
    from fastweights.models.stsp import split_networks

    torch.manual_seed(0)
    pop = models.build("stsp-rnn", tokens=False, d_model=10, input_size=4, output_size=3,
                       n_networks=3).double().eval()
    x = torch.rand(6, 7, 4, dtype=torch.float64)
    y, state, inter = pop(x, return_intermediates=True)
    nets = split_networks(pop)
    assert len(nets) == 3
    for p, net in enumerate(nets):
        y_p, s_p, i_p = net.double()(x[2 * p:2 * p + 2], return_intermediates=True)
        torch.testing.assert_close(y_p, y[2 * p:2 * p + 2])
        torch.testing.assert_close(i_p.efficacy, inter.efficacy[2 * p:2 * p + 2])
        torch.testing.assert_close(s_p["u"], state["u"][2 * p:2 * p + 2])
    assert not torch.allclose(nets[0].cell.w_rec, nets[1].cell.w_rec)
    with pytest.raises(ValueError, match="split evenly"):
        pop(x[:5])
