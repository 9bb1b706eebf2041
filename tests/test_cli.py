import json
import subprocess
import sys

import pytest

from fastweights.cli import _parser, main

SUBCOMMANDS = ["train", "compare", "sweep", "eval", "reproduce", "models", "tasks"]


def exit_code(argv: list[str]) -> int:
    """``main``'s exit status, whether returned or raised by argparse."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


def test_help_describes_every_option():
    parser = _parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(SUBCOMMANDS) <= set(sub.choices)
    for name, p in sub.choices.items():
        assert p.description, name
        for action in p._actions:
            assert action.help, f"{name} {action.option_strings} has no help"


def test_help_runs(capsys):
    out = subprocess.run([sys.executable, "-m", "fastweights", "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "usage: fastweights" in out
    for name in SUBCOMMANDS:
        with pytest.raises(SystemExit) as e:
            main([name, "--help"])
        assert e.value.code == 0
        assert f"usage: fastweights {name}" in capsys.readouterr().out


@pytest.mark.parametrize("argv, match", [
    (["train", "--model", "nope"], "unknown model 'nope'"),
    (["train", "--task", "nope"], "unknown task 'nope'"),
    (["train", "--model.width=3"], "unknown key model.width"),
    (["train", "--model.d_model=big"], "model.d_model must be of type int"),
    (["train", "--task.n_pairs=40"], "n_pairs must be in 1..26"),
    (["train", "--model.d_model=30"], "multiple of n_heads"),
    (["train", "--bogus"], "unrecognised argument '--bogus'"),
    (["train", "missing.toml"], "config file missing.toml does not exist"),
    (["train", "--resume", "nowhere"], "no config.json there"),
    (["eval", "nowhere"], "no config.json there"),
    (["sweep", "missing.toml"], "config file missing.toml does not exist"),
    (["train", "--precision", "bf16", "--device", "cpu"], "bf16 autocasts on CUDA only"),
    (["train", "--train.precision=fp8"], "train.precision must be fp32 or bf16"),
])
def test_bad_config_fails_before_training(argv, match, capsys):
    assert exit_code(argv) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") <= 3


def test_train_and_compare(tmp_path, capfd):
    assert main(["train", "--steps", "4", "--eval-every", "2", "--model.d_model=16",
                 "--task.test_size=32", "--out", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "metrics.jsonl").read_text().count("\n") == 2
    assert main(["eval", str(tmp_path / "run"), "--task.n_pairs=6"]) == 0
    assert "test/accuracy" in capfd.readouterr().out
    assert main(["compare", "--models", "deltanet,lstm", "--params", "5000", "--steps", "4",
                 "--eval-every", "2", "--workers", "1", "--task.test_size=32",
                 "--out", str(tmp_path / "cmp")]) == 0
    out = capfd.readouterr().out
    assert "| deltanet |" in out and "| lstm |" in out
    assert (tmp_path / "cmp" / "results.md").read_text().count("|") > 20
    assert (tmp_path / "cmp" / "learning_curves.png").stat().st_size > 1000
    # a second compare into the same folder reuses finished runs, but only of the same config
    assert main(["compare", "--models", "deltanet,lstm", "--params", "5000", "--steps", "4",
                 "--eval-every", "2", "--workers", "1", "--task.test_size=32",
                 "--out", str(tmp_path / "cmp")]) == 0
    out = capfd.readouterr().out
    assert "2 run(s), 2 already finished" in out
    assert "deltanet-assoc-retrieval-lr0.003-4steps-s0-" in out or "| deltanet |" in out
    # other settings into the same folder (the README's compare after `make demo`) get their
    # own run folders, named as `train` names them; the first runs stay
    before = sorted(p.name for p in (tmp_path / "cmp").iterdir() if p.is_dir())
    assert main(["compare", "--models", "deltanet,lstm", "--params", "5000", "--steps", "6",
                 "--eval-every", "2", "--workers", "1", "--task.test_size=32",
                 "--out", str(tmp_path / "cmp")]) == 0
    after = sorted(p.name for p in (tmp_path / "cmp").iterdir() if p.is_dir())
    assert set(before) < set(after) and len(after) == 4
    assert all("-6steps-" in n for n in set(after) - set(before))
    assert "step 2/6" in capfd.readouterr().out  # one progress line per evaluation


def test_one_naming_rule():
    from fastweights.cli import default_run_dir
    from fastweights.train.config import resolve
    from fastweights.train.naming import run_name
    from fastweights.train.sweep import Sweep

    exp = resolve(flags={"model": {"d_model": "16"}, "task": {}, "train": {"steps": "7"}})
    sweep = Sweep(models=["deltanet"], tasks=["assoc-retrieval"], model={"d_model": 16},
                  train={"steps": 7})
    assert default_run_dir(exp).name == run_name(exp) == sweep.experiments()[0][0]


def test_quick_budget_env(tmp_path, monkeypatch):
    """FASTWEIGHTS_MAX_STEPS caps the steps, evaluation interval and held-out sets."""
    monkeypatch.setenv("FASTWEIGHTS_MAX_STEPS", "3")
    assert main(["train", "--model.d_model=16", "--out", str(tmp_path / "r")]) == 0
    import json

    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["train"]["steps"] == 3 and config["train"]["eval_every"] == 3
    assert config["task"]["test_size"] == 64
    monkeypatch.setenv("FASTWEIGHTS_MAX_STEPS", "many")
    assert exit_code(["train", "--out", str(tmp_path / "s")]) == 2


def test_compile_runs_on_cpu(tmp_path, capsys):
    """--compile times eager and compiled steps (inductor on CPU), trains on with the faster,
    prints and records the choice, and a resumed run keeps it."""
    args = ["train", "--model", "deltanet", "--model.d_model=8", "--model.n_heads=1",
            "--model.n_layers=1", "--eval-every", "4", "--task.test_size=16", "--compile",
            "--out", str(tmp_path / "c")]
    assert main([*args, "--steps", "8"]) == 0
    err = capsys.readouterr().err
    assert "train.compile: eager " in err and "from step 9" in err
    first = json.loads((tmp_path / "c" / "result.json").read_text())["compile"]
    assert isinstance(first["compiled"], bool) and first["eager_ms"] > 0
    assert first["compiled_ms"] > 0
    assert main(["train", "--resume", str(tmp_path / "c"), "--steps", "12"]) == 0
    assert "train.compile" not in capsys.readouterr().err  # decided before: not re-probed
    again = json.loads((tmp_path / "c" / "result.json").read_text())["compile"]
    assert again == first


def test_lists(capsys):
    assert main(["models"]) == 0 and main(["tasks"]) == 0
    out = capsys.readouterr().out
    assert "deltanet" in out and "assoc-retrieval" in out
