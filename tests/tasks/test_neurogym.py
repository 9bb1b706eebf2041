"""The optional NeuroGym adapter (skipped when neurogym is not installed)."""

import pytest
import torch

from fastweights.tasks import build

pytest.importorskip("neurogym")


def test_neurogym_env_as_task_is_seeded_and_scored():
    task = build("neurogym:DelayMatchSample-v0", seq_len=40, test_size=8)
    a = task.sample(4, torch.Generator().manual_seed(0))
    b = task.sample(4, torch.Generator().manual_seed(0))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    x, y = a
    assert x.shape == (4, 40, task.input_size) and y.shape == (4, 40)
    assert 0 <= int(y.min()) and int(y.max()) < task.output_size
    perfect = torch.nn.functional.one_hot(y, task.output_size).float() * 20
    assert task.metrics(perfect, y)["decision_accuracy"] == 1.0
    assert "DelayMatchSample-v0" in task.render(x[0], y[0])


def test_neurogym_unknown_env_raises_value_error():
    with pytest.raises(ValueError, match="NoSuchEnv"):
        build("neurogym:NoSuchEnv-v0")
