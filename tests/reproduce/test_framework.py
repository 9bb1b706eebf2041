"""The reproduction framework: learning-rate choice and grid extension, spread, verdicts on
medians with seed agreement, exact reruns, and reports rebuilt without training."""

import math

import pytest

import fastweights.reproduce.grid as grid
from fastweights.cli import main
from fastweights.reproduce import REPRODUCTIONS
from fastweights.reproduce.budget import Budget, Context
from fastweights.reproduce.criterion import Check, judge, verdict_of
from fastweights.reproduce.grid import Cell, choose_lr, run_grid
from fastweights.reproduce.stats import Spread


def test_choose_lr_extends_only_a_single_best_at_an_edge():
    assert choose_lr({1e-3: 0.2, 3e-3: 0.9, 1e-2: 0.5}) == (3e-3, None)
    assert choose_lr({1e-3: 0.2, 3e-3: 0.5, 1e-2: 0.9}) == (1e-2, 0.03)
    assert choose_lr({1e-3: 0.9, 3e-3: 0.5, 1e-2: 0.2}) == (1e-3, 0.0003)
    # a tie with an inner lr is not an edge optimum; the smaller lr wins ties
    assert choose_lr({1e-3: 0.5, 3e-3: 0.9, 1e-2: 0.9}) == (3e-3, None)
    assert choose_lr({1e-3: 0.9}) == (1e-3, None)


def test_spread_formats_median_and_range():
    s = Spread.of([0.5, 0.9, 0.7])
    assert (s.median, s.lo, s.hi, s.n) == (0.7, 0.5, 0.9, 3)
    assert format(s) == "0.700 [0.500–0.900]"
    assert format(Spread.of([3.0]), "g") == "3"
    assert format(Spread.of([100, math.inf, math.inf]), "g") == "∞ [100–∞]"
    with pytest.raises(ValueError):
        Spread.of([])


def test_judge_uses_medians_and_counts_agreeing_seeds():
    m = {"a": {"acc": {0: 0.95, 1: 0.4, 2: 0.92}}, "b": {"acc": {0: 0.1, 1: 0.2, 2: 0.95}}}
    checks = [Check("a learns", lambda v: v("a", "acc") >= 0.9),
              Check("b fails", lambda v: v("b", "acc") < 0.5),
              Check("untested", lambda v: None)]
    v = judge(checks, m)
    assert v.outcomes == [True, True, None]
    assert v.verdict == "partly reproduced"
    assert v.agree == [2, 2, 3]
    assert v.seeds_agree == 3  # every seed alone still passes at least one check
    assert "2/3 seeds agree" in v.lines()
    assert verdict_of([True, True]) == "reproduced"
    assert verdict_of([True, False, False], partly_at=2) == "not reproduced"


def _cell(lrs=(1e-2, 3e-2)) -> Cell:
    budget = Budget(steps=3, batch_size=8, eval_every=3, lrs=lrs, seeds=(0, 1), warmup=1,
                    extend=1, val_size=16)
    return Cell("lt", "linear-transformer", "capacity", budget,
                {"d_model": 8, "n_heads": 1, "n_layers": 1}, {"n_keys": 2, "test_size": 16})


def _numbers(results):
    return {(r.lr, r.seed): [{k: v for k, v in h.items() if k != "time"} for h in r.history]
            for c in results.values() for r in c.runs}


def test_grid_extends_reruns_exactly_and_reports_without_training(tmp_path, monkeypatch):
    def by_lr(run):  # a selection that prefers the largest lr: the grid must grow upwards
        return run.lr

    first = run_grid([_cell()], Context("quick", tmp_path / "a", 1), select=by_lr)
    res = first["lt"]
    assert res.lrs == [0.01, 0.03, 0.1] and res.lr == 0.1  # one extension (extend=1)
    assert len(res.runs) == 6 and [r.seed for r in res.chosen] == [0, 1]
    again = run_grid([_cell()], Context("quick", tmp_path / "b", 1), select=by_lr)
    assert _numbers(again) == _numbers(first)  # same seeds, same numbers, a fresh folder

    def no_training(*args, **kwargs):
        raise AssertionError("--report must not train")

    monkeypatch.setattr(grid, "train", no_training)
    cached = run_grid([_cell()], Context("quick", tmp_path / "a", 1, report_only=True),
                      select=by_lr)
    assert _numbers(cached) == _numbers(first)
    with pytest.raises(ValueError, match="needs finished runs"):
        run_grid([_cell()], Context("quick", tmp_path / "empty", 1, report_only=True))


def test_report_flag_rebuilds_the_report_from_cached_runs(tmp_path, monkeypatch):
    args = ["reproduce", "negative-eigenvalues", "--quick", "--workers", "1", "--out",
            str(tmp_path / "docs"), "--runs", str(tmp_path / "runs")]
    assert main(args) == 0
    before = (tmp_path / "docs" / "negative-eigenvalues.md").read_text()
    monkeypatch.setattr(grid, "train", lambda *a, **k: pytest.fail("--report trained"))
    assert main([*args, "--report"]) == 0
    after = (tmp_path / "docs" / "negative-eigenvalues.md").read_text()
    assert "rebuilt from the finished runs" in after

    def body(text):  # all but the command line (wall time, commit)
        return [line for line in text.splitlines() if not line.startswith("**Command:**")]

    assert body(after) == body(before)


@pytest.mark.parametrize("name", sorted(REPRODUCTIONS))
def test_paper_scale_builds_valid_experiments(name, tmp_path):
    """Every reproduction's paper-scale grid validates (no run exists, so --report stops at
    the first missing run, after every experiment of the first round was built)."""
    with pytest.raises(ValueError, match="needs finished runs"):
        REPRODUCTIONS[name].run(Context("paper", tmp_path, 1, report_only=True))


def test_budget_compile_reaches_the_runs_and_its_description(tmp_path):
    compiled = Budget(steps=3, batch_size=8, eval_every=3, lrs=(1e-2,), seeds=(0,), compile=True)
    cell = Cell("lt", "linear-transformer", "capacity", compiled, {"d_model": 8}, {})
    [(_, exp)] = cell.experiments([1e-2], tmp_path)
    assert exp.train.compile and "torch.compile" in compiled.describe()
    assert not any(exp.train.compile for _, exp in _cell().experiments([1e-2], tmp_path))
    assert "compile" not in _cell().budget.describe()


def test_budget_rejects_an_unsorted_grid():
    with pytest.raises(ValueError, match="increasing"):
        Budget(steps=1, batch_size=1, eval_every=1, lrs=(1e-2, 1e-3), seeds=(0,))
    with pytest.raises(ValueError, match="scale"):
        Context("huge")


def _fake_run(values, every=10, steps=40, lr=1e-3, seed=0):
    history = [{"step": every * (i + 1), "val/accuracy": v, "test/accuracy": v / 2}
               for i, v in enumerate(values)]
    result = {"history": history, "main_metric": "accuracy", "higher_is_better": True}
    return grid.Run("c", None, lr, seed, result, steps)


def test_val_area_holds_an_early_stopped_run_at_its_last_value():
    assert grid.val_area(_fake_run([0.5, 1.0])) == pytest.approx((0.5 + 1.0 * 3) / 4)
    assert grid.val_area(_fake_run([0.0, 0.2, 0.4, 0.6])) == pytest.approx(0.3)


def test_selected_row_is_the_earliest_best_on_validation():
    run = _fake_run([0.2, 0.9, 0.9, 0.4])
    assert run.selected["step"] == 20
    assert run.test() == 0.45 and run.val() == 0.9
    assert run.steps_to(0.45) == 20 and math.isinf(run.steps_to(0.99))
