"""Labels of copy, hds, icl-regression, delayed-match and char-lm, recomputed independently."""

import math

import numpy as np
import pytest
import torch

from fastweights.tasks import IGNORE, build
from fastweights.tasks.char_lm import load_corpus


def test_copy_recalls_the_symbols_after_the_delimiter():
    task = build("copy", n_copy=5, delay=7, long_delay=30)
    for key, delay in (("test", 7), ("test_long", 30)):
        x, y = task.eval_sets()[key]
        for xi, yi in zip(x.tolist()[:100], y.tolist()[:100], strict=True):
            assert len(xi) == 5 + delay + 5
            assert all(1 <= s <= 8 for s in xi[:5])
            assert xi[5:] == [0] * (delay - 1) + [9] + [0] * 5
            assert yi == [IGNORE] * (5 + delay) + xi[:5]


def _hds_reference(system, x, H, lags=None, sources=None, signs=None):
    """y(t) from the s input vectors by the recurrence, one component at a time."""
    seq = [list(v) for v in x]
    s, d = len(x), len(x[0])
    for _ in range(H):
        if system == "repeat-copy":
            new = list(seq[-s])
        elif system == "fibonacci":
            new = [math.prod(seq[-j][i] for j in range(1, s + 1)) for i in range(d)]
        else:
            new = [signs[i] * seq[-lags[i]][sources[i]] for i in range(d)]
        seq.append(new)
    return seq[s:]


@pytest.mark.parametrize("system", ["repeat-copy", "signed-selection", "fibonacci"])
def test_hds_outputs_follow_the_recurrence(system):
    task = build("hds", dim=4, n_vectors=3, horizon=9, system=system, system_seed=4)
    x, y = task.sample(50, torch.Generator().manual_seed(0))
    extra = {}
    if system == "signed-selection":
        extra = dict(lags=task.lags.tolist(), sources=task.sources.tolist(),
                     signs=task.signs.tolist())
    for xi, yi in zip(x, y, strict=True):
        shown = xi[:3, :4].tolist()
        assert all(abs(v) == 1 for row in shown for v in row)
        assert (xi[:3, 4] == 0).all() and (xi[3:] == torch.tensor([0, 0, 0, 0, 1.0])).all()
        assert torch.isnan(yi[:3]).all()
        assert yi[3:].tolist() == _hds_reference(system, shown, 9, **extra)


def test_hds_sign_metrics():
    task = build("hds", dim=2, n_vectors=2, horizon=3)
    x, y = task.sample(4, torch.Generator().manual_seed(0))
    out = 0.5 * y.nan_to_num()
    m = task.metrics(out, y)
    assert m["sequence_accuracy"] == 1.0 and m["mse"] == pytest.approx(0.25)
    out[0, 3, 0] *= -1
    assert task.metrics(out, y)["sequence_accuracy"] == pytest.approx(0.75)


def test_icl_regression_baseline_is_least_squares():
    d, n_points = 4, 10
    task = build("icl-regression", dim=d, n_points=n_points, noise_std=0.1)
    x, y = task.sample(40, torch.Generator().manual_seed(0))
    for xi, yi in zip(x.double().numpy(), y.double().numpy(), strict=True):
        X, Y = xi[0::2, :d], xi[1::2, d]
        assert np.allclose(xi[0::2, d], 0) and np.allclose(xi[1::2, :d], 0)
        assert np.allclose(yi[0::2, 0], Y) and np.isnan(yi[1::2]).all()
        for i in range(1, n_points):
            w = np.linalg.lstsq(X[:i], Y[:i], rcond=None)[0]  # minimum norm when i < d
            assert yi[2 * i, 1] == pytest.approx(X[i] @ w, abs=1e-3)
        assert yi[0, 1] == 0


def test_icl_regression_excess_mse_is_zero_for_least_squares():
    task = build("icl-regression")
    x, y = task.sample(100, torch.Generator().manual_seed(0))
    m = task.metrics(y[..., 1:].nan_to_num(), y)
    assert m["excess_mse"] == pytest.approx(0.0, abs=1e-6)


def test_delayed_match_decision_is_whether_test_equals_sample():
    task = build("delayed-match", n_stim=6, fixation=2, sample=3, delays=(2, 6), test=3,
                 decision=2, noise_std=0.0, test_delays=(8, 9))
    for key, (lo, hi) in (("test", (2, 6)), ("test_long", (8, 9))):
        x, y = task.eval_sets()[key]
        matches = 0
        for xi, yi in zip(x[:200], y[:200], strict=True):
            fixation = xi[:, 0].tolist()
            decision_start = fixation.index(0.0)
            stim_on = (xi[:, 1:].max(dim=1).values > 0.99).nonzero()[:, 0].tolist()
            sample_dir = int(xi[stim_on[0], 1:].argmax())
            test_dir = int(xi[stim_on[-1], 1:].argmax())
            delay = stim_on[-1] - 2 - 3 - 3 + 1
            assert lo <= delay <= hi and stim_on[0] == 2 and len(stim_on) == 6
            want = 1 if sample_dir == test_dir else 2
            matches += want == 1
            yl = yi.tolist()
            assert yl[:decision_start] == [0] * decision_start
            assert yl[decision_start: decision_start + 2] == [want, want]
            assert all(v == IGNORE for v in yl[decision_start + 2:])
        assert 60 < matches < 140


def test_delayed_match_metrics_count_decision_steps_only():
    task = build("delayed-match")
    x, y = task.sample(64, torch.Generator().manual_seed(0))
    always_fixate = torch.zeros(*y.shape, 3)
    always_fixate[..., 0] = 1
    m = task.metrics(always_fixate, y)
    assert m["accuracy"] == 0.0 and m["fixation_accuracy"] == 1.0


def test_char_lm_windows_are_corpus_text_and_test_is_held_out():
    task = build("char-lm", seq_len=32, test_size=10)
    chars, ids = load_corpus()
    text = "".join(chars[i] for i in ids.tolist())
    split = int(len(ids) * 0.9)
    x, y = task.sample(20, torch.Generator().manual_seed(0))
    assert torch.equal(x[:, 1:], y[:, :-1])
    for xi, yi in zip(x.tolist(), y.tolist(), strict=True):
        window = "".join(chars[i] for i in xi + yi[-1:])
        assert window in text[:split]
    xt, yt = task.test_set()
    assert xt.shape == (10, 32)
    held_out = "".join(chars[i] for i in xt.flatten().tolist())
    assert held_out == text[split: split + 320]
    assert "".join(chars[i] for i in yt[0].tolist()) == text[split + 1: split + 33]


def test_char_lm_corpus_is_small_ascii_and_bpc_is_in_bits():
    chars, ids = load_corpus()
    assert len(ids) < 2_000_000 and all(ord(c) < 128 for c in chars)
    task = build("char-lm", seq_len=16, test_size=4)
    x, y = task.test_set()
    uniform = torch.zeros(*y.shape, len(chars))
    assert task.metrics(uniform, y)["bpc"] == pytest.approx(math.log2(len(chars)))
