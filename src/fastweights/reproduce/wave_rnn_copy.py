"""Keller, Muller, Sejnowski & Welling (2024): wave-RNNs learn the copy task far faster than
identity-initialised RNNs (iRNN) of the same size.

Setting: ``copy`` with 10 symbols from 1–8, a delay, cross-entropy on the recall steps; a
wave-RNN against an iRNN whose width is fitted to the same parameter count; AdamW, batch
128, gradient clipping 1; the same budget, learning-rate grid and seeds for both. Each
model's learning rate is the one with the best median (over seeds) area under its
validation-accuracy curve, so "learns sooner" is what selects it.

Criterion, stated before the run, on medians over seeds at each model's chosen learning rate:
(a) the wave-RNN reaches ``THRESHOLD`` test recall accuracy; (b) it does, and the iRNN needs
at least ``FASTER`` times as many steps (or never reaches it). Both → reproduced; (a) only →
partly reproduced; neither → not reproduced.
"""

from __future__ import annotations

from fastweights import models
from fastweights.reproduce.budget import Budget, Context
from fastweights.reproduce.criterion import Check, judge, measure
from fastweights.reproduce.grid import Cell, run_grid, val_area
from fastweights.reproduce.plots import plot_curves
from fastweights.reproduce.report import (
    Report,
    Reproduction,
    grid_table,
    paper_vs_here,
    spread,
)
from fastweights.reproduce.stats import num

THRESHOLD = 0.9
FASTER = 2.0
SETTINGS = {  # scale -> (wave-RNN config, delay, test set)
    "quick": ({"d_model": 64, "n_channels": 2}, 30, 64),
    "cpu": ({"d_model": 64, "n_channels": 2}, 30, 1000),
    "paper": ({"d_model": 100, "n_channels": 6}, 100, 1000),
}
BUDGETS = {
    "quick": Budget(steps=4, batch_size=128, eval_every=2, lrs=(3e-3,), seeds=(0,),
                    warmup=1, target=0.995, val_size=64),
    "cpu": Budget(steps=1000, batch_size=128, eval_every=50, lrs=(1e-3, 3e-3, 1e-2),
                  seeds=(0, 1, 2, 3, 4), target=0.995),
    "paper": Budget(steps=10_000, batch_size=128, eval_every=100, lrs=(1e-4, 3e-4, 1e-3),
                    seeds=(0, 1, 2), target=0.995),
}


def run(ctx: Context) -> Report:
    b, (wave, delay, test_size) = BUDGETS[ctx.scale], SETTINGS[ctx.scale]
    params = models.build("wave-rnn", input_size=10, output_size=10, **wave).num_params()
    task = {"delay": delay, "n_copy": 10, "n_symbols": 8, "test_size": test_size}
    results = run_grid([Cell("wave-rnn", "wave-rnn", "copy", b, dict(wave), task),
                        Cell("irnn", "irnn", "copy", b, {}, task, params=params)],
                       ctx, select=val_area)
    m = measure(results, lambda r: {"steps": r.steps_to(THRESHOLD), "acc": r.test()})
    checks = [
        Check(f"the wave-RNN reaches {THRESHOLD:.0%} test recall accuracy within the budget",
              lambda v: v("wave-rnn", "steps") < float("inf"),
              lambda v: f"step {num(v('wave-rnn', 'steps'))}"),
        Check(f"the wave-RNN reaches it and the iRNN needs ≥ {FASTER:g}× as many steps (or "
              f"never gets there)",
              lambda v: v("wave-rnn", "steps") < float("inf")
              and v("irnn", "steps") >= FASTER * v("wave-rnn", "steps"),
              lambda v: f"iRNN step {num(v('irnn', 'steps'))}, ∞: never"),
    ]
    verdict = judge(checks, m)
    w, i = results["wave-rnn"], results["irnn"]
    steps = {k: spread(results[k], lambda r: r.steps_to(THRESHOLD)) for k in results}
    summary = (f"Steps to {THRESHOLD:.0%} recall accuracy, median [min–max] over "
               f"{len(b.seeds)} seed(s) at each model's chosen lr: wave-RNN {steps['wave-rnn']:g}"
               f" (lr {w.lr:g}), iRNN {steps['irnn']:g} (lr {i.lr:g}; ∞ = never within "
               f"{b.steps} steps); {verdict.agreement()}.")
    fig = plot_curves({f"{k} lr {r.lr:g} ({r.chosen[0].result['params']} params)":
                       [run.history for run in r.chosen] for k, r in results.items()},
                      "test/accuracy", ctx.workdir / "wave_rnn_copy_accuracy.png",
                      ylabel="test recall accuracy", threshold=THRESHOLD,
                      title=f"copy, delay {delay}: median over seeds, min–max band")
    table = grid_table(results, {
        "params": (lambda r: r.result["params"], "g"),
        f"steps to {THRESHOLD:.0%}": (lambda r: r.steps_to(THRESHOLD), "g"),
        "test acc": lambda r: r.test()})
    settings = paper_vs_here([
        ("wave-RNN", "100 positions × 6 channels, full c×c×3 circular kernel",
         f"{wave['d_model']} positions × {wave['n_channels']} channels; the authors' cell "
         "(variant=authors: the full c×c×3 circular kernel, their 'fwd' initialisation)"),
        ("baseline", "iRNN of equal parameters", f"iRNN fitted to {params} parameters"),
        ("delay", "10 … 500", str(delay)),
        ("training", "Adam, batch 128, clipping, many thousands of iterations",
         f"AdamW, warm-up + cosine, clip 1.0; {b.describe()}"),
        ("selection", "—", "lr per model by the median area under the validation "
         "accuracy curve"),
    ], "paper (Keller et al. 2024)")
    body = f"""## Setting and budget

Task `copy`: 10 symbols from 1–8, delay {delay} (the delimiter 9 at the end of the delay),
then 10 recall steps; cross-entropy and accuracy on the recall steps only; a validation set
of {b.val_size} sequences (model selection) and a fixed test set of {test_size} (the numbers
below). Both models get the same budget.

{settings}

**Criterion (stated before the run), on medians over seeds:**

{verdict.lines()}

## Results

{table}

Chance accuracy is 1/8 = 0.125.

![recall accuracy vs step]({fig.name})

"""
    failed = [r for r in w.chosen if r.steps_to(THRESHOLD) == float("inf")]
    irnn_ok = sum(r.steps_to(THRESHOLD) < float("inf") for r in i.chosen)
    discussion = (f"{len(failed)} of {len(w.chosen)} wave-RNN seeds at the chosen lr never "
                  f"reached {THRESHOLD:.0%} within {b.steps} steps (test accuracy " + ", ".join(
                      f"seed {r.seed} {r.test():.3f}" for r in failed) + "; chance 0.125): "
                  "the wave-RNN learns fast when it learns, but not in every seed at this "
                  f"size and budget; the iRNN reached it in {irnn_ok} of {len(i.chosen)}."
                  ) if failed else ""
    return Report(verdict.verdict, summary, body, [fig], results, discussion)


REPRODUCTION = Reproduction(
    name="wave-rnn-copy",
    paper="Keller, Muller, Sejnowski & Welling 2024, arXiv 2309.08045",
    claim="wave-RNNs learn the copy task far faster than identity-initialised RNNs of the "
          "same size",
    run=run,
    history=(
        "First and only full run (commit ffdf12b): one seed, learning rates 1e-3 and 3e-3, "
        "1,000 steps, best lr per model by test steps-to-90%: wave-RNN at 90% by step 100, "
        "iRNN never above 0.337 (reproduced).",
        "Now: 5 seeds, a 3-value grid chosen on a validation split, verdict on medians, "
        "and the wave-RNN as the authors' code computes it (full c×c×3 kernel; the first run "
        "had the earlier depthwise cell).",
    ),
)
