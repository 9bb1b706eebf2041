"""``fastweights analyze memory|decode RUN`` on tiny trained runs."""

import json

import pytest

from fastweights.cli import main

TINY_TASK = ["--task", "masse-dms", "--task.dt=100", "--task.mask=100", "--task.test_size=10"]


def _train(tmp_path, model, *extra):
    run = tmp_path / model
    assert main(["train", "--model", model, *TINY_TASK, "--steps", "2", "--eval-every", "2",
                 "--batch-size", "10", "--out", str(run), *extra]) == 0
    return run


@pytest.mark.parametrize("model, field", [("deltanet", "layers-0-S"), ("stpn", "F"),
                                          ("twm", "field"), ("stsp-rnn", "efficacy")])
def test_analyze_memory_draws_the_model_s_memory(tmp_path, model, field, capsys):
    run = _train(tmp_path, model, "--model.d_model=8")
    assert main(["analyze", "memory", str(run)]) == 0
    drawn = {p.name for p in run.glob("memory-*.png")}
    assert f"memory-{field}.png" in drawn, drawn
    assert all((run / name).stat().st_size > 1000 for name in drawn)
    assert "wrote" in capsys.readouterr().out


def test_analyze_decode_writes_curves_and_the_silencing_test(tmp_path, capsys):
    run = _train(tmp_path, "stsp-rnn", "--model.d_model=10")
    assert main(["analyze", "decode", str(run), "--trials", "64", "--shuffles", "1"]) == 0
    result = json.loads((run / "decode.json").read_text())
    assert set(result["curves"]) == {"activity", "synaptic efficacy"}
    assert len(result["curves"]["activity"]) == len(result["steps"])
    assert 0 <= result["accuracy_silenced"] <= 1
    assert (run / "decode.png").stat().st_size > 1000
    assert "synaptic efficacy" in capsys.readouterr().out


def test_analyze_decode_needs_labelled_trials(tmp_path):
    run = tmp_path / "rnn"
    assert main(["train", "--model", "rnn", "--task", "copy", "--steps", "1", "--eval-every",
                 "1", "--out", str(run), "--model.d_model=8"]) == 0
    with pytest.raises(SystemExit):
        main(["analyze", "decode", str(run)])
