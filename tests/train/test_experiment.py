"""The typed experiment, load_run and the absence of global side effects."""

import json
import subprocess
import sys

import pytest
import torch

import fastweights
from fastweights.train import Experiment, TrainConfig, load_run, resolve, train
from fastweights.train.config import load_experiment, parse_dotted
from fastweights.train.fields import coerce


def tiny(**train) -> Experiment:
    cfg = dict(steps=4, batch_size=8, eval_every=2) | train
    return Experiment.make("deltanet", "assoc-retrieval", {"d_model": 16},
                           {"n_pairs": 2, "test_size": 32}, TrainConfig(**cfg))


@pytest.mark.parametrize("flag", ["5,10", "(5,10)", "[5,10]", " ( 5 , 10 ) "])
def test_tuple_fields_from_flags(flag):
    exp = resolve(flags=parse_dotted([f"--task.delays={flag}"]), task="delayed-match")
    assert exp.task.config.delays == (5, 10)
    assert exp.model.config.input_size == 9 and not exp.model.config.tokens


@pytest.mark.parametrize("flag, match", [("5", "must have 2 items"),
                                         ("5,x", r"task.delays\[1\] must be of type int"),
                                         ("1,2,3", "must have 2 items")])
def test_bad_tuple_flags(flag, match):
    with pytest.raises(ValueError, match=match):
        resolve(flags=parse_dotted([f"--task.delays={flag}"]), task="delayed-match")


def test_types_come_from_the_dataclasses():
    assert coerce("none", int | None, "k", text=True) is None
    assert coerce([1, 2], tuple[int, int], "k") == (1, 2)
    assert coerce(3, float, "k") == 3.0 and isinstance(coerce(3, float, "k"), float)
    assert coerce('{"a": 1}', dict, "k", text=True) == {"a": 1}
    with pytest.raises(ValueError, match="k must be of type list"):
        coerce("0.1", list[float], "k")  # typed (TOML) values are checked, not parsed
    with pytest.raises(ValueError, match="k must be of type bool"):
        coerce(1, bool, "k")


def test_runs_of_the_older_config_layout_are_the_same_experiment(tmp_path):
    from fastweights.train.shell import same_experiment

    exp = tiny()
    old = {"model": "deltanet", "task": "assoc-retrieval", "model_config": {"d_model": 16},
           "task_config": {"n_pairs": 2, "test_size": 32},
           "train": json.loads(json.dumps(exp.to_dict()["train"]))}
    (tmp_path / "config.json").write_text(json.dumps(old))
    assert same_experiment(tmp_path, exp) == []
    assert same_experiment(tmp_path, tiny(steps=5)) == ["train.steps"]


def test_config_json_round_trips(tmp_path):
    exp = resolve(flags=parse_dotted(["--task.delays=3,4", "--model.d_model=16"]),
                  task="delayed-match")
    train(exp.__class__(exp.model, exp.task, TrainConfig(steps=2, batch_size=4,
                                                         eval_every=2)),
          out=tmp_path / "r", progress=False)
    back = load_experiment(tmp_path / "r")
    assert back.task.config.delays == (3, 4) and back.model == exp.model


def test_load_run_builds_the_trained_model(tmp_path):
    """A feature task and a token task load back with their sizes, best or last."""
    exp = Experiment.make("lstm", "copy", {"d_model": 16},
                          {"n_symbols": 4, "n_copy": 3, "delay": 2, "test_size": 16},
                          TrainConfig(steps=4, batch_size=4, eval_every=2))
    summary = train(exp, out=tmp_path / "r", progress=False)
    run = fastweights.load_run(tmp_path / "r", checkpoint="last")
    assert run.step == 4 and [r["step"] for r in run.metrics] == [2, 4]
    assert run.result["final"] == summary["final"]
    assert run.experiment == exp and not run.model.training
    best = load_run(tmp_path / "r")
    assert best.step in (2, 4)
    x, _ = run.task.test_set()
    assert run.model(x[:2])[0].shape[-1] == run.task.output_size


def test_train_restores_threads_and_rng(tmp_path):
    torch.set_num_threads(2)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train(tiny(threads=1, seed=7), progress=False)
    assert torch.get_num_threads() == 2
    assert torch.equal(torch.rand(3), expected)
    torch.set_num_threads(1)


def test_import_changes_no_global_state():
    code = ("import matplotlib, torch, warnings; before = (torch.get_num_threads(), "
            "len(warnings.filters)); import fastweights, fastweights.analysis.plots, "
            "fastweights.analysis.memory_plots, fastweights.analysis.fwp_plots, "
            "fastweights.train.sweep, fastweights.train.compare; "
            "import matplotlib.pyplot; "
            "print(matplotlib.rcParams._get_backend_or_none(), "
            "before == (torch.get_num_threads(), len(warnings.filters)))")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    assert out == ["None", "True"]  # no backend chosen, threads and warnings untouched


def test_warmup_is_a_fraction_of_the_steps():
    assert TrainConfig(steps=1000).warmup_steps == 100
    assert TrainConfig(steps=1000, warmup=0.05).warmup_steps == 50
    assert TrainConfig(steps=1000, warmup=100).warmup_steps == 100
    with pytest.raises(ValueError, match="train.warmup"):
        TrainConfig(warmup=2.5)
    with pytest.warns(UserWarning, match="never leaves warm-up"):
        train(tiny(warmup=10), progress=False)


def test_neurogym_task_trains_and_evaluates(tmp_path, capsys):
    pytest.importorskip("neurogym")
    from fastweights.cli import main

    out = tmp_path / "ng"
    assert main(["train", "--task", "neurogym:DelayMatchSample-v0", "--steps", "2",
                 "--eval-every", "2", "--model.d_model=16", "--task.test_size=8",
                 "--task.seq_len=20", "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["task"]["env"] == \
        "DelayMatchSample-v0"
    assert main(["eval", str(out)]) == 0
    assert "test/decision_accuracy" in capsys.readouterr().out
    assert main(["compare", "--models", "deltanet,lstm", "--params", "3000", "--task",
                 "neurogym:DelayMatchSample-v0", "--task.test_size=8", "--task.seq_len=20",
                 "--steps", "2", "--eval-every", "2", "--batch-size", "8", "--workers", "1",
                 "--out", str(tmp_path / "cmp")]) == 0
    assert "| lstm |" in capsys.readouterr().out


def test_neurogym_missing_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "neurogym", None)
    with pytest.raises(ValueError, match=r"fastweights\[neurogym\]"):
        resolve(task="neurogym:DelayMatchSample-v0")
