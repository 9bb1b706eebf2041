"""Sweep tables (n, median, min, max, std, the best lr), eval on a feature task's run, the
wandb logger's calls."""

import sys
import types

import pytest

from fastweights.cli import main
from fastweights.train.sweep import markdown_table, summarize


def result(model, lr, seed, acc):
    return {"model": model, "task": "t", "lr": lr, "run": f"{model}-{lr}-{seed}",
            "main_metric": "accuracy", "higher_is_better": True, "params": 10,
            "state_size": 4, "time": 1.0, "final": {"test/accuracy": acc}}


def test_summary_rows_and_best_lr():
    rows = summarize([result("a", 1e-3, 0, 0.2), result("a", 1e-3, 1, 0.4),
                      result("a", 1e-3, 2, 0.9), result("a", 3e-3, 0, 0.5),
                      result("a", 3e-3, 1, 0.6), result("b", 1e-3, 0, 0.7)])
    a1, a3, b1 = rows
    assert (a1["n"], a1["median"], a1["min"], a1["max"]) == (3, 0.4, 0.2, 0.9)
    assert a1["std"] == pytest.approx(0.3605551, abs=1e-6) and b1["std"] == 0.0
    assert a1["best_run"] == "a-0.001-2"
    assert (a1["best_lr"], a3["best_lr"], b1["best_lr"]) == (False, True, True)
    table = markdown_table(rows)
    assert "| **0.003** * |" in table and "| 0.001 |" in table
    assert "| n |" in table and "| std |" in table


def test_eval_on_a_feature_task_run(tmp_path, capsys):
    run = str(tmp_path / "dm")
    assert main(["train", "--model", "stpn", "--task", "delayed-match", "--steps", "2",
                 "--eval-every", "2", "--task.test_size=16", "--out", run]) == 0
    assert main(["eval", run, "--task.test_delays=25,30", "--checkpoint", "last"]) == 0
    out = capsys.readouterr().out
    assert "test_long/trial_accuracy" in out and "(25, 30)" in out


def test_wandb_logger_offline_by_default(tmp_path, monkeypatch):
    calls = []

    class Run:
        def log(self, row, step):
            calls.append(("log", step, sorted(row)))

        def finish(self):
            calls.append(("finish",))

    def init(**kw):
        calls.append(("init", kw["mode"], kw["dir"]))
        return Run()

    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=init))
    monkeypatch.delenv("WANDB_MODE", raising=False)
    assert main(["train", "--model.d_model=16", "--steps", "4", "--eval-every", "2",
                 "--task.test_size=16", "--train.wandb=true", "--out", str(tmp_path / "w")]) == 0
    assert calls[0] == ("init", "offline", str(tmp_path / "w"))
    assert [c[1] for c in calls if c[0] == "log"] == [2, 4] and calls[-1] == ("finish",)
    assert "test/accuracy" in calls[1][2]
    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(SystemExit):
        main(["train", "--train.wandb=true", "--out", str(tmp_path / "x")])
