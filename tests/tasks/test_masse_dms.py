"""masse-dms / masse-dmrs: periods in ms, the rotation rule, the scored steps."""

import pytest
import torch

from fastweights import tasks
from fastweights.tasks.base import IGNORE
from fastweights.tasks.delayed_match import FIXATE, MATCH, NON_MATCH


@pytest.mark.parametrize("name, shift", [("masse-dms", 0), ("masse-dmrs", 2)])
def test_match_rule_and_targets(name, shift):
    task = tasks.build(name, dt=20)
    p = task.periods()
    assert p == {"fixation": (0, 25), "sample": (25, 50), "delay": (50, 100),
                 "test": (100, 125)}
    tr = task.trials(400, torch.Generator().manual_seed(0))
    assert tr.inputs.shape == (400, 125, 24) and tr.targets.shape == (400, 125)
    assert torch.equal(tr.match, tr.test == (tr.sample + shift) % 8)
    assert 0.4 < tr.match.float().mean() < 0.6
    assert (tr.targets[:, :100] == FIXATE).all()
    assert (tr.targets[:, 100:102] == IGNORE).all()  # the first 50 ms of the test, rounded
    choice = torch.where(tr.match, MATCH, NON_MATCH)
    assert (tr.targets[:, 103:] == choice[:, None]).all()
    # the stimulus is on in the sample and test periods only, peaked at its direction
    assert tr.inputs[:, :25].abs().max() == 0 and tr.inputs[:, 50:100].abs().max() == 0
    peak = tr.inputs[:, 30].argmax(-1) // 3
    assert torch.equal(peak, tr.sample)
    torch.testing.assert_close(tr.inputs[:, 30].max(-1).values, torch.full((400,), 4.0))
    x, y = task.sample(400, torch.Generator().manual_seed(0))
    assert torch.equal(x, tr.inputs) and torch.equal(y, tr.targets)


def test_metrics_score_the_test_period():
    task = tasks.build("masse-dms", dt=50, test_size=8)
    x, y = task.test_set()
    perfect = torch.nn.functional.one_hot(y.clamp(min=0), 3).float()
    m = task.metrics(perfect, y)
    assert m == {"accuracy": 1.0, "trial_accuracy": 1.0, "fixation_accuracy": 1.0}
    always_fixate = torch.nn.functional.one_hot(torch.zeros_like(y), 3).float()
    assert task.metrics(always_fixate, y)["accuracy"] == 0.0


@pytest.mark.parametrize("bad, match", [
    (dict(dt=30), "whole number"), (dict(rotation=30), "multiple of 360"),
    (dict(mask=600), "shorter than the test"), (dict(n_dirs=1), "n_dirs"),
    (dict(delay=0), "at least one"),
])
def test_validation(bad, match):
    with pytest.raises(ValueError, match=match):
        tasks.build("masse-dms", **bad)
