"""Decoding recovers a planted code; perturbations silence activity but not synapses."""

import torch
from torch import nn

from fastweights import models
from fastweights.analysis.decoding import (
    cross_validated_accuracy,
    decode_over_time,
    decoding_sources,
    perturbed_run,
    run_with_noise,
    tensor_fields,
)
from fastweights.analysis.neuro_plots import plot_decoding_over_time, plot_memory_field
from fastweights.layers.stsp import STSPIntermediates
from fastweights.models.state import ModelState

N_DIRS, SAMPLE, T = 8, (2, 6), 20


class PlantedMemory(nn.Module):
    """Activity codes the sample only while it is shown (pure noise in the delay); the
    synapses keep it (a facilitation-like trace that never decays)."""

    def forward(self, x, return_intermediates=True):
        g = torch.Generator().manual_seed(1)
        B = x.shape[0]
        h = x + 0.3 * torch.randn(x.shape, generator=g)
        trace = x.cumsum(1).clamp(max=1)  # the sample, held from its onset on
        eff = 0.2 + 0.3 * trace + 0.05 * torch.randn(x.shape, generator=g)
        ones = torch.ones_like(eff)
        return torch.zeros(B, x.shape[1], 3), None, STSPIntermediates(h, ones, eff, eff)


def planted_trials(n=256):
    g = torch.Generator().manual_seed(0)
    sample = torch.randint(N_DIRS, (n,), generator=g)
    x = torch.zeros(n, T, N_DIRS)
    x[:, SAMPLE[0]:SAMPLE[1]] = nn.functional.one_hot(sample, N_DIRS)[:, None].float()
    return x, sample


def test_planted_activity_silent_code_is_found_in_synapses_only():
    x, sample = planted_trials()
    _, _, inter = PlantedMemory()(x)
    sources = decoding_sources(inter)
    assert set(sources) == {"activity", "synaptic efficacy"}
    act = decode_over_time(sources["activity"], sample, N_DIRS, n_shuffles=5)
    syn = decode_over_time(sources["synaptic efficacy"], sample, N_DIRS, n_shuffles=5)
    delay = slice(SAMPLE[1] + 1, T)
    assert act.accuracy[SAMPLE[0]:SAMPLE[1]].min() > 0.9  # activity codes the shown sample
    assert abs(act.accuracy[delay].mean() - 1 / N_DIRS) < 0.05  # ... and nothing after
    assert (act.accuracy[delay] <= act.chance_hi[delay] + 0.06).all()
    assert syn.accuracy[delay].min() > 0.95
    assert syn.accuracy[:SAMPLE[0]].max() < 0.3  # before the sample: no information
    assert abs(syn.chance_mean.mean() - 1 / N_DIRS) < 0.04


def test_dual_form_for_more_features_than_trials():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(40) % 2
    features = torch.randn(40, 3, 500, generator=g)
    features[:, 1] += 0.5 * labels[:, None]  # a weak shift of every feature, at step 1 only
    acc = cross_validated_accuracy(features, labels, folds=4)
    assert acc[1] > 0.9 and acc[0] < 0.8 and acc[2] < 0.8


def test_tensor_fields_walks_nested_intermediates():
    inter = {"layers": [STSPIntermediates(*(torch.zeros(1, 2, 3),) * 4)], "h": torch.ones(1)}
    assert sorted(tensor_fields(inter)) == ["h", "layers.0.efficacy", "layers.0.h",
                                            "layers.0.syn_u", "layers.0.syn_x"]


def test_silencing_erases_activity_but_synapses_keep_the_past():
    # two trials that differ only before the silenced window [5, 9)
    x = torch.zeros(2, 14, 4)
    x[0, :5, 0], x[1, :5, 1] = 4.0, 4.0
    x[:, 9:, 2] = 1.0
    for synapses, differ in (("none", False), ("full", True)):
        torch.manual_seed(0)
        model = models.build("stsp-rnn", tokens=False, d_model=12, input_size=4, output_size=3,
                             synapses=synapses).double()
        y = perturbed_run(model, x.double(), 5, 9, silence=("h",), noise=False)
        assert y.shape == (2, 14, 3)
        torch.testing.assert_close(y[:, :5], model.eval()(x.double()[:, :5])[0])
        gap = (y[0, 9:] - y[1, 9:]).abs().max()
        assert (gap > 1e-6) == differ, (synapses, gap)


def test_shuffling_the_synapses_moves_the_memory():
    torch.manual_seed(0)
    model = models.build("stsp-rnn", tokens=False, d_model=12, input_size=4, output_size=3).double()
    x = torch.rand(6, 10, 4, dtype=torch.float64)
    base = perturbed_run(model, x, 4, 5, silence=(), noise=False)
    torch.testing.assert_close(base, model.eval()(x)[0])
    moved = perturbed_run(model, x, 4, 5, silence=(), shuffle=("x", "u"), noise=False)
    assert not torch.allclose(moved[:, 5:], base[:, 5:])
    torch.testing.assert_close(moved[:, :4], base[:, :4])


def test_run_with_noise_keeps_the_mode_and_plots(tmp_path):
    model = models.build("stsp-rnn", tokens=False, d_model=12, input_size=4, output_size=3).eval()
    x = torch.rand(3, 8, 4)
    _, state, inter = run_with_noise(model, x)
    assert not model.training and isinstance(state, ModelState)
    d = decode_over_time(torch.randn(16, 8, 5), torch.arange(16) % 2, n_shuffles=2)
    path = plot_decoding_over_time({"activity": [d, d]}, {"sample": (0, 4), "delay": (4, 8)},
                                   tmp_path / "dec.png", dt=10)
    assert path.stat().st_size > 0
    for name, field in {"h": inter.h[0], "S": torch.randn(8, 2, 3, 3)}.items():
        assert plot_memory_field(name, field, tmp_path / f"{name}.png").stat().st_size > 0
