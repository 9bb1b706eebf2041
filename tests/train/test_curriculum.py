import pytest

from fastweights.train import distributed
from fastweights.train.config import TrainConfig, resolve
from fastweights.train.naming import run_name
from fastweights.train.supervised import Supervised, train

HDS = {"dim": 4, "n_vectors": 3, "horizon": 6, "test_size": 16}


def _exp(**train):
    return resolve({"model": {"name": "rnn", "d_model": 8}, "task": {"name": "hds", **HDS},
                    "train": {"steps": 6, "batch_size": 4, "eval_every": 3, **train}})


def test_stages_split_the_steps():
    cfg = TrainConfig(steps=10, curriculum={"horizon": [2, 4, 6]})
    assert [cfg.curriculum_stage(s) for s in range(1, 11)] == [0] * 4 + [1] * 4 + [2] * 2
    cfg = TrainConfig(steps=10, curriculum={"horizon": [2, 4]}, curriculum_every=3)
    assert [cfg.curriculum_stage(s) for s in range(1, 11)] == [0] * 3 + [1] * 7


def test_each_stage_trains_on_its_task_and_evaluation_on_the_configured_one(tmp_path):
    exp = _exp(curriculum={"horizon": [2, 4]})
    trainer = Supervised(exp, distributed.setup("cpu"))
    first, logged = trainer.training_task(1)
    last, _ = trainer.training_task(6)
    assert (first.config.horizon, last.config.horizon, logged) == (2, 4, {"curriculum_stage": 0.0})
    x2, _ = first.train_batch(2, trainer.data)
    x4, _ = last.train_batch(2, trainer.data)
    assert x4.shape[1] - x2.shape[1] == 2  # two more horizon steps
    assert trainer.task.config.horizon == 6
    result = train(exp, out=tmp_path / "run", progress=False)
    assert result["steps"] == 6


@pytest.mark.parametrize("curriculum, match", [
    ({"horizon": []}, "non-empty lists"),
    ({"horizon": [2, 4], "dim": [4]}, "all of one length"),
    ({"no_such_field": [1, 2]}, "unknown key train.curriculum"),
    ({"horizon": ["long", 4]}, r"train.curriculum\[0\]: task.horizon must be of type int"),
])
def test_bad_curricula_are_named(curriculum, match):
    with pytest.raises(ValueError, match=match):
        _exp(curriculum=curriculum)


def test_a_stage_that_changes_the_task_sizes_is_refused_before_training(tmp_path):
    exp = _exp(curriculum={"dim": [4, 2]})  # the first stage is fine, the second is not
    with pytest.raises(ValueError, match="stage 1 .* changes the task's sizes"):
        train(exp, out=tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_the_curriculum_enters_the_run_name_only_when_set():
    # the name this experiment had before the curriculum fields existed: runs keep folders
    assert run_name(_exp()) == "rnn-hds-lr0.003-6steps-s0-ea8c78"
    assert run_name(_exp(curriculum={"horizon": [2, 6]})) != run_name(_exp())
