import json

import pytest

from fastweights.analysis.plots import read_metrics
from fastweights.train.loop import TrainConfig, lr_factor, train

QUICK = dict(model_config={"d_model": 16}, task_config={"n_pairs": 2, "test_size": 64})


def test_deterministic_and_writes_run_folder(tmp_path):
    cfg = TrainConfig(steps=12, batch_size=8, eval_every=6, warmup=2)
    a = train("deltanet", "assoc-retrieval", train_config=cfg, out=tmp_path / "a",
              progress=False, **QUICK)
    b = train("deltanet", "assoc-retrieval", train_config=cfg, out=tmp_path / "b",
              progress=False, **QUICK)
    strip = [{k: v for k, v in row.items() if k != "time"} for row in a["history"]]
    assert strip == [{k: v for k, v in row.items() if k != "time"} for row in b["history"]]
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    assert config["model"] == "deltanet" and config["train"]["steps"] == 12
    assert config["task_config"]["n_pairs"] == 2 and config["model_config"]["d_model"] == 16
    rows = read_metrics(tmp_path / "a")
    assert [r["step"] for r in rows] == [6, 12]
    assert {"train/loss", "test/loss", "test/accuracy", "lr"} <= set(rows[0])
    assert (tmp_path / "a" / "model.pt").exists()


def test_learns_assoc_retrieval():
    """A small DeltaNet gets well above chance (0.1) on two pairs within a few seconds."""
    r = train("deltanet", "assoc-retrieval", train_config=TrainConfig(steps=150, eval_every=150),
              progress=False, model_config={"d_model": 32},
              task_config={"n_pairs": 2, "test_size": 500})
    assert r["final"]["test/accuracy"] > 0.5


def test_schedule():
    cfg = TrainConfig(steps=100, warmup=10)
    assert lr_factor(0, cfg) == pytest.approx(0.1)
    assert lr_factor(9, cfg) == pytest.approx(1.0)
    assert lr_factor(10, cfg) == pytest.approx(1.0)
    assert lr_factor(55, cfg) == pytest.approx(0.5)
    assert lr_factor(100, cfg) == pytest.approx(0.0)


@pytest.mark.parametrize("bad, match", [(dict(steps=0), "train.steps"),
                                        (dict(lr=-1.0), "train.lr"),
                                        (dict(lr=float("nan")), "train.lr")])
def test_bad_train_config(bad, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**bad)
