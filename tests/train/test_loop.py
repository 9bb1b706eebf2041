import pytest
import torch

from fastweights.analysis.plots import read_metrics
from fastweights.train import Experiment, TrainConfig, TrainingDiverged, train
from fastweights.train.supervised import lr_factor


def quick(steps=12, **train) -> Experiment:
    cfg = dict(steps=steps, batch_size=8, eval_every=6, warmup=2) | train
    return Experiment.make("deltanet", "assoc-retrieval", {"d_model": 16},
                           {"n_pairs": 2, "test_size": 64}, TrainConfig(**cfg))


def _strip(history):
    return [{k: v for k, v in row.items() if k != "time"} for row in history]


def test_deterministic_and_writes_run_folder(tmp_path):
    a = train(quick(), out=tmp_path / "a", progress=False)
    b = train(quick(), out=tmp_path / "b", progress=False)
    assert _strip(a["history"]) == _strip(b["history"])
    run = tmp_path / "a"
    assert {"config.json", "metrics.jsonl", "ckpt.pt", "ckpt.prev.pt", "best.pt",
            "result.json"} <= {p.name for p in run.iterdir()}
    rows = read_metrics(run)
    assert [r["step"] for r in rows] == [6, 12]
    assert {"train/loss", "test/loss", "test/accuracy", "lr"} <= set(rows[0])


def test_learns_assoc_retrieval():
    """A small DeltaNet gets well above chance (0.1) on two pairs within a few seconds."""
    exp = Experiment.make("deltanet", "assoc-retrieval", {"d_model": 32},
                          {"n_pairs": 2, "test_size": 500},
                          TrainConfig(steps=150, eval_every=150, warmup=100))
    assert train(exp, progress=False)["final"]["test/accuracy"] > 0.5


def test_corrupted_checkpoint_falls_back_to_previous(tmp_path, capsys):
    whole = train(quick(steps=18), out=tmp_path / "whole", progress=False)
    run = tmp_path / "run"
    train(quick(steps=18), out=run, progress=False)
    # as if killed after the last checkpoint was half-written: resume from the one before
    (run / "result.json").unlink()
    (run / "ckpt.pt").write_bytes(b"truncated")
    resumed = train(quick(steps=18), out=run, progress=False, resume=True)
    assert "ckpt.pt is not a valid fastweights checkpoint (unreadable" in capsys.readouterr().err
    assert _strip(resumed["history"]) == _strip(whole["history"])
    assert [r["step"] for r in read_metrics(run)] == [6, 12, 18]


def test_early_stop_at_target(tmp_path):
    r = train(quick(steps=30, target=0.0), out=tmp_path / "r", progress=False)
    assert r["steps"] == 6


def test_diverged_run_stops_and_keeps_checkpoint(tmp_path, monkeypatch):
    from fastweights.tasks.assoc_retrieval import AssocRetrieval

    calls = {"n": 0}
    loss = AssocRetrieval.loss

    def nan_after_eight(self, logits, targets):
        calls["n"] += 1
        value = loss(self, logits, targets)
        return value * float("nan") if calls["n"] == 9 else value

    monkeypatch.setattr(AssocRetrieval, "loss", nan_after_eight)
    with pytest.raises(TrainingDiverged, match=r"step 8: loss .*last good checkpoint "
                                               r"\(step 6\)"):
        train(quick(steps=12), out=tmp_path / "r", progress=False)
    assert torch.load(tmp_path / "r" / "ckpt.pt", weights_only=True)["step"] == 6
    assert not (tmp_path / "r" / "result.json").exists()


def test_schedule():
    cfg = TrainConfig(steps=100, warmup=10)
    assert lr_factor(0, cfg) == pytest.approx(0.1)
    assert lr_factor(9, cfg) == pytest.approx(1.0)
    assert lr_factor(10, cfg) == pytest.approx(1.0)
    assert lr_factor(55, cfg) == pytest.approx(0.5)
    assert lr_factor(100, cfg) == pytest.approx(0.0)


@pytest.mark.parametrize("bad, match", [(dict(steps=0), "train.steps"),
                                        (dict(lr=-1.0), "train.lr"),
                                        (dict(lr=float("nan")), "train.lr"),
                                        (dict(device="tpu"), "train.device")])
def test_bad_train_config(bad, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**bad)


def test_tensorboard_logging_or_clear_error(tmp_path):
    exp = quick(steps=6, tensorboard=True)
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="needs the tensorboard package"):
            train(exp, out=tmp_path / "r", progress=False)
    else:
        train(exp, out=tmp_path / "r", progress=False)
        assert any((tmp_path / "r" / "tensorboard").iterdir())
