"""Every registered task keeps the Task contract: seeded, fixed test sets, sane shapes,
metrics at their best on perfect predictions, fast generation, listed by describe_all."""

import math
import time

import pytest
import torch
import torch.nn.functional as F

from fastweights.tasks import IGNORE, TASKS, build, describe_all

NAMES = sorted(TASKS)


def _perfect(task, targets):
    """Outputs that a perfect model would give for ``targets``."""
    if targets.dtype == torch.long:
        scored = targets.clamp(min=0)
        return 20.0 * F.one_hot(scored, task.output_size).float()
    clean = targets[..., : task.output_size].nan_to_num()
    if task.name == "formal-lang":
        return 20.0 * (2 * clean - 1)
    return clean


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_per_seed(name):
    task = build(name)
    a = task.sample(16, torch.Generator().manual_seed(1))
    b = task.sample(16, torch.Generator().manual_seed(1))
    c = task.sample(16, torch.Generator().manual_seed(2))
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x.nan_to_num(-7.0), y.nan_to_num(-7.0))
    assert not torch.equal(a[0], c[0])


@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_ranges(name):
    task = build(name)
    x, y = task.sample(32, torch.Generator().manual_seed(0))
    assert x.shape[:2] == y.shape[:2]
    if task.tokens:
        assert x.dtype == torch.long and x.dim() == 2
        assert 0 <= int(x.min()) and int(x.max()) < task.input_size
    else:
        assert x.dtype == torch.float32 and x.shape[2] == task.input_size
        assert torch.isfinite(x).all()
    if y.dtype == torch.long:
        scored = y != IGNORE
        assert scored.any(dim=1).all(), "every example has a scored position"
        assert 0 <= int(y[scored].min()) and int(y[scored].max()) < task.output_size
    else:
        assert y.shape[2] >= task.output_size
        assert (~torch.isnan(y[..., 0])).any(dim=1).all()


@pytest.mark.parametrize("name", NAMES)
def test_test_sets_are_fixed_and_differ_from_training(name):
    sets_a, sets_b = build(name).eval_sets(), build(name).eval_sets()
    assert "test" in sets_a and sets_a.keys() == sets_b.keys()
    for key in sets_a:
        xa, ya = sets_a[key]
        xb, yb = sets_b[key]
        assert torch.equal(xa, xb) and torch.equal(ya.nan_to_num(-7.0), yb.nan_to_num(-7.0))
    x_train, _ = build(name).train_batch(8, torch.Generator().manual_seed(0))
    assert not torch.equal(x_train, sets_a["test"][0][:8])


@pytest.mark.parametrize("name", NAMES)
def test_metrics_best_on_perfect_outputs(name):
    task = build(name)
    for key, (x, y) in task.eval_sets().items():
        x, y = x[:64], y[:64]
        out = _perfect(task, y)
        metrics = task.metrics(out, y)
        assert task.main_metric in metrics, key
        best = metrics[task.main_metric]
        if task.higher_is_better:
            assert best == pytest.approx(1.0), (key, metrics)
        else:
            assert best == pytest.approx(0.0, abs=1e-3), (key, metrics)
        assert float(task.loss(out, y)) < 1e-3
        noisy = task.loss(torch.randn_like(out), y)
        assert math.isfinite(float(noisy)) and float(noisy) > 1e-3


@pytest.mark.parametrize("name", NAMES)
def test_loss_has_gradient_only_from_scored_positions(name):
    task = build(name)
    x, y = task.sample(4, torch.Generator().manual_seed(0))
    out = torch.randn(*y.shape[:2], task.output_size, requires_grad=True)
    task.loss(out, y).backward()
    assert torch.isfinite(out.grad).all()
    unscored = (y == IGNORE) if y.dtype == torch.long else torch.isnan(y[..., 0])
    assert (out.grad[unscored] == 0).all()


@pytest.mark.parametrize("name", [*NAMES, "capacity-mse"])
def test_loss_on_the_scored_positions_equals_the_full_loss(name):
    task = build("capacity", loss="mse") if name == "capacity-mse" else build(name)
    x, y = task.sample(4, torch.Generator().manual_seed(0))
    out = torch.randn(*y.shape[:2], task.output_size, dtype=torch.float64)
    at = task.scored(y)
    if at is None:  # float targets, or every position scored
        assert y.dtype != torch.long or (y != IGNORE).all()
        return
    assert at.equal(y != IGNORE)
    torch.testing.assert_close(task.loss(out[at], y[at]), task.loss(out, y), rtol=1e-6,
                               atol=1e-6)  # the loss is taken in fp32


SLOW_CONFIGS = [(name, {}) for name in NAMES] + [
    ("state-tracking", {"problem": "mod-arith-brackets"}),
    ("state-tracking", {"problem": "s5"}),
    ("formal-lang", {"language": "shuffle-2"}),
    ("hds", {"system": "signed-selection", "horizon": 100}),
    ("capacity", {"n_keys": 200, "replace": True}),
]


@pytest.mark.parametrize("name, config", SLOW_CONFIGS)
def test_generates_10k_examples_fast(name, config):
    task = build(name, **config)
    start = time.perf_counter()
    x, _ = task.sample(10_000, torch.Generator().manual_seed(0))
    elapsed = time.perf_counter() - start
    assert x.shape[0] == 10_000
    assert elapsed < 5.0, f"{name}: {elapsed:.2f} s for 10k examples"


def test_fixed_training_set_when_train_size_given():
    task = build("mqar", train_size=50)
    x, _ = task.train_batch(200, torch.Generator().manual_seed(0))
    assert len(torch.unique(x, dim=0)) <= 50


def test_build_rejects_unknown_names_and_fields():
    with pytest.raises(ValueError, match="unknown task"):
        build("no-such-task")
    with pytest.raises(ValueError, match="no config field"):
        build("mqar", n_pair=3)


def test_describe_all_lists_every_task_with_config_and_example():
    text = describe_all()
    for name in NAMES:
        assert f"\n{name}: " in f"\n{text}"
    assert "config: test_size=" in text and "example:" in text
    assert "neurogym:<EnvName>" in text
