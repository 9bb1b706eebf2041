"""Labels of the recall tasks, recomputed by replaying each sequence in plain Python."""

import pytest
import torch

from fastweights.tasks import IGNORE, build

N = 200


def _draw(name, **config):
    task = build(name, **config)
    x, y = task.sample(N, torch.Generator().manual_seed(3))
    return task, x.tolist(), y.tolist()


def test_assoc_retrieval_target_is_the_queried_keys_value():
    task, xs, ys = _draw("assoc-retrieval", n_pairs=4)
    for x, y in zip(xs, ys, strict=True):
        pairs = dict(zip(x[0:8:2], x[1:8:2], strict=True))
        assert x[8:10] == [36, 36]
        assert y[:-1] == [IGNORE] * 10 and y[-1] == pairs[x[-1]] - 26


@pytest.mark.parametrize("replace", [False, True])
def test_capacity_target_is_the_latest_value(replace):
    S, V = 12, 5
    task, xs, ys = _draw("capacity", n_keys=S, n_values=V, n_queries=None, replace=replace)
    writes = 2 * S if replace else S
    for x, y in zip(xs, ys, strict=True):
        memory, keys_written = {}, []
        for k, v in zip(x[0:2 * writes:2], x[1:2 * writes:2], strict=True):
            assert 0 <= k < S and S <= v < S + V
            memory[k] = v - S
            keys_written.append(k)
        assert x[2 * writes] == S + V
        assert sorted(set(keys_written)) == list(range(S))
        if not replace:
            assert len(keys_written) == S
        queries = x[2 * writes + 1:]
        assert sorted(queries) == list(range(S))
        assert y[:2 * writes + 1] == [IGNORE] * (2 * writes + 1)
        assert y[2 * writes + 1:] == [memory[q] for q in queries]


def test_capacity_default_queries_one_random_key():
    task, xs, ys = _draw("capacity", n_keys=12)
    assert all(len(x) == 2 * 12 + 2 and sum(t != IGNORE for t in y) == 1
               for x, y in zip(xs, ys, strict=True))
    assert len({x[-1] for x in xs}) == 12


def test_capacity_setting_two_really_reassigns_keys():
    _, xs, _ = _draw("capacity", n_keys=10, replace=True)
    repeats = sum(len(x[0:40:2]) - len(set(x[0:40:2])) for x in xs)
    assert repeats == 10 * N


def test_capacity_mse_loss_is_half_squared_error():
    task = build("capacity", n_keys=3, n_values=4, loss="mse")
    x, y = task.sample(2, torch.Generator().manual_seed(0))
    out = torch.zeros(*y.shape, 4)
    assert float(task.loss(out, y)) == pytest.approx(0.5)
    assert task.metrics(out, y)["mse"] == pytest.approx(0.5)


def _check_recall(task, xs, ys, context_len, latest):
    V = task.config.vocab_size
    for x, y in zip(xs, ys, strict=True):
        memory = {}
        for k, v in zip(x[0:context_len:2], x[1:context_len:2], strict=True):
            assert 1 <= k < V // 2 <= v < V
            memory[k] = v
        region_x, region_y = x[context_len:], y[context_len:]
        asked = [(i, xi) for i, (xi, yi) in enumerate(zip(region_x, region_y, strict=True))
                 if yi != IGNORE]
        assert sorted(k for _, k in asked) == sorted(memory)  # every key queried once
        assert all(i % 2 == 0 for i, _ in asked)
        for i, k in asked:
            assert region_y[i] == memory[k]
        assert y[:context_len] == [IGNORE] * context_len
        latest(x, context_len, memory)


def test_mqar_queries_every_key_for_its_value():
    task, xs, ys = _draw("mqar", vocab_size=70, seq_len=64, n_pairs=8)
    _check_recall(task, xs, ys, 16, lambda *_: None)
    assert all(len(set(x[0:16:2])) == len(set(x[1:16:2])) == 8 for x in xs)  # distinct


def test_mqar_query_gaps_favour_early_positions():
    task = build("mqar", vocab_size=300, seq_len=256, n_pairs=8)
    _, y = task.sample(500, torch.Generator().manual_seed(0))
    pos = (y[:, 16:] != IGNORE).nonzero()[:, 1].float()
    assert pos.median() < 60  # a power law puts most queries near the context


def test_mqar_overwrite_target_is_the_latest_value_and_it_changed():
    N_, R = 6, 3
    task, xs, ys = _draw("mqar-overwrite", vocab_size=70, seq_len=64, n_pairs=N_,
                         n_overwrites=R)
    context = 2 * (N_ + R)

    def changed(x, c, memory):
        history = {}
        for k, v in zip(x[0:c:2], x[1:c:2], strict=True):
            history.setdefault(k, []).append(v)
        assert len(history) == N_
        again = [vs for vs in history.values() if len(vs) > 1]
        assert len(again) == R and all(len(vs) == 2 and vs[0] != vs[1] for vs in again)

    _check_recall(task, xs, ys, context, changed)


def test_selective_copy_targets_are_the_data_tokens_in_order():
    task, xs, ys = _draw("selective-copy", n_symbols=6, context_len=20, n_copy=5)
    for x, y in zip(xs, ys, strict=True):
        data = [t for t in x[:20] if t < 6]
        assert len(data) == 5 and x[20] == 7  # delimiter
        assert x[21:] == data[:-1]  # next-token form
        assert y[:20] == [IGNORE] * 20 and y[20:] == data


def test_noisy_recall_scores_repeated_keys_with_their_value():
    K, V, M = 4, 5, 3
    task, xs, ys = _draw("noisy-recall", n_keys=K, n_values=V, n_noise=M, n_pairs=10,
                         n_noise_tokens=6)
    for x, y in zip(xs, ys, strict=True):
        assert sum(t >= K + V for t in x) == 6
        memory, t, pairs = {}, 0, 0
        while t < len(x):
            if x[t] >= K + V:  # noise: never scored
                assert y[t] == IGNORE
                t += 1
                continue
            key, value = x[t], x[t + 1]
            assert key < K and K <= value < K + V
            if key in memory:
                assert memory[key] == value  # one mapping per sequence
                assert y[t] == value
            else:
                assert y[t] == IGNORE
            assert y[t + 1] == IGNORE
            memory[key] = value
            t, pairs = t + 2, pairs + 1
        assert pairs == 10


def test_fuzzy_recall_scores_value_tokens_of_repeated_key_motifs():
    task, xs, ys = _draw("fuzzy-recall", n_key_tokens=3, n_value_tokens=4, key_len=2,
                         value_len=3, n_keys=3, n_pairs=6)
    for x, y in zip(xs, ys, strict=True):
        memory = {}
        for p in range(6):
            chunk, target = x[5 * p: 5 * p + 5], y[5 * p: 5 * p + 5]
            key, value = tuple(chunk[:2]), tuple(chunk[2:])
            assert all(t < 3 for t in key) and all(3 <= t < 7 for t in value)
            if key in memory:
                assert memory[key] == value
                assert target == [IGNORE, *value, IGNORE]
            else:
                assert target == [IGNORE] * 5
            memory[key] = value
        assert len(memory) <= 3
