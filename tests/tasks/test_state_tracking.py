"""state-tracking labels against plain-Python recomputation: running parity, products of
permutations composed by hand, and Python's own evaluation of the arithmetic expressions."""

import itertools

import pytest
import torch

from fastweights.tasks import IGNORE, build


def _unpadded(task, x, y):
    keep = x != task.pad
    n = int(keep.sum())
    assert keep[:n].all(), "padding only at the end"
    assert (y[n:] == IGNORE).all()
    return x[:n].tolist(), y[:n].tolist()


def test_parity_is_the_running_parity():
    task = build("state-tracking", problem="parity", min_len=3, max_len=30)
    x, y = task.sample(300, torch.Generator().manual_seed(1))
    for xi, yi in zip(x, y, strict=True):
        bits, targets = _unpadded(task, xi, yi)
        assert 3 <= len(bits) <= 30
        assert targets == [sum(bits[: i + 1]) % 2 for i in range(len(bits))]


@pytest.mark.parametrize("k", [3, 5])
def test_symmetric_group_targets_are_running_products(k):
    task = build("state-tracking", problem=f"s{k}", min_len=3, max_len=25)
    perms = list(itertools.permutations(range(k)))
    x, y = task.sample(200, torch.Generator().manual_seed(2))
    for xi, yi in zip(x, y, strict=True):
        word, targets = _unpadded(task, xi, yi)
        state = tuple(range(k))
        for g, target in zip(word, targets, strict=True):
            g = perms[g]
            state = tuple(g[state[i]] for i in range(k))  # apply the earlier ones first
            assert perms[target] == state


@pytest.mark.parametrize("problem", ["mod-arith", "mod-arith-brackets"])
def test_modular_arithmetic_matches_python_evaluation(problem):
    task = build("state-tracking", problem=problem, min_len=2, max_len=40)
    x, y = task.sample(400, torch.Generator().manual_seed(3))
    depths = []
    for xi, yi in zip(x, y, strict=True):
        tokens, targets = _unpadded(task, xi, yi)
        text = task.expression(xi)
        assert text.endswith("=") and len(text) == len(tokens) and len(text) % 2 == 0
        assert targets[:-1] == [IGNORE] * (len(tokens) - 1)
        assert targets[-1] == eval(text[:-1]) % 5  # Python: * before + and -
        assert "(" not in text or problem.endswith("brackets")
        depths.append(text.count("("))
    if problem.endswith("brackets"):
        assert max(depths) >= 3


def test_long_test_set_lengths_and_labels():
    task = build("state-tracking", problem="s3", test_long_size=50)
    sets = task.eval_sets()
    x, y = sets["test_long"]
    lengths = (x != task.pad).sum(dim=1)
    assert x.shape[0] == 50 and 40 <= int(lengths.min()) and int(lengths.max()) <= 256
    train_lengths = (sets["test"][0] != task.pad).sum(dim=1)
    assert 3 <= int(train_lengths.min()) and int(train_lengths.max()) <= 40


def test_scaled_accuracy_is_zero_at_chance_and_one_when_perfect():
    task = build("state-tracking", problem="s3")
    x, y = task.sample(500, torch.Generator().manual_seed(0))
    perfect = torch.nn.functional.one_hot(y.clamp(min=0), 6).float()
    assert task.metrics(perfect, y)["scaled_accuracy"] == pytest.approx(1.0)
    constant = torch.zeros(*y.shape, 6)
    constant[..., 0] = 1  # always the identity: right one time in six
    assert abs(task.metrics(constant, y)["scaled_accuracy"]) < 0.05
