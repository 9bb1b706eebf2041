"""Rodriguez, Guo & Moraitis (2022): at about 2k parameters, the Short-Term-Plasticity Neuron
(STPN) beats the LSTM, the Elman RNN, Ba et al.'s fast weights and Miconi et al.'s
differentiable plasticity on associative retrieval, and uses the least energy.

Setting (the authors' code): ``assoc-retrieval`` with 3 key–value pairs then ``??`` and the
query key, one-hot over 37 symbols, a fixed training set of 100k sequences, 10k validation,
20k test, many-to-one classification from the last step; every model's width fitted to a
budget of 2k parameters (the paper's code: STPNr 11 hidden units, STPNf 13, LSTM 9, RNN 20,
Ba fast weights 20, plastic RNN 17; our cells count parameters slightly differently, so the
widths are fitted).

Criterion, stated before the run, on medians over seeds at each model's learning rate chosen
on validation: (a) the STPN (recurrent, STPNr) beats every other model's test accuracy by
at least ``MARGIN`` (half a point; first stated as "the highest", see the report's history);
(b) it has a lower synaptic energy per step (E_t = Σ_ij |G_ij| z_j²,
``fastweights.analysis.memory_plots.synaptic_energy``) than every rival the claim names
(LSTM, RNN, Ba's fast weights, plastic RNN), whatever their accuracy. Both → reproduced;
one → partly reproduced; neither → not reproduced.
"""

from __future__ import annotations

import statistics

from fastweights.analysis.memory_plots import markdown_table, synaptic_energy
from fastweights.models.sizing import fit_width
from fastweights.reproduce.budget import Budget, Context
from fastweights.reproduce.criterion import Check, judge, measure
from fastweights.reproduce.grid import Cell, run_grid
from fastweights.reproduce.plots import plot_bars, plot_curves
from fastweights.reproduce.report import (
    Report,
    Reproduction,
    grid_table,
    paper_vs_here,
    spread,
)
from fastweights.reproduce.stats import Spread

MODELS = ["stpn", "stpnf", "lstm", "rnn", "fast-weights-ba", "plastic-rnn"]
# the versions the paper's code ran (``fastweights models --variants``): stpn and stpnf are
# their associative-retrieval net's by default, plastic-rnn's default is their Miconi
# baseline's; Ba's fast weights as the STPN repository ran them (ART_FW_S1_h20.json)
CONFIGS = {"fast-weights-ba": {"variant": "stpn", "decay": 0.9, "activation": "tanh"}}
VARIANTS = ("stpn: variant=art; stpnf: variant=art (no bias, F not normalised); "
            "fast-weights-ba: variant=stpn, decay 0.9, tanh; plastic-rnn: variant=maze")
RIVALS = ["lstm", "rnn", "fast-weights-ba", "plastic-rnn"]
PARAMS = 2000
MARGIN = 0.005  # "beats": half an accuracy point, 100 of the 20,000 test sequences
BATCH = 128
ENERGY_SEQS = 1000
SPLITS = {"quick": (1000, 64, 64), "cpu": (100_000, 10_000, 20_000),
          "paper": (100_000, 10_000, 20_000)}  # train, validation, test
BUDGETS = {
    "quick": Budget(steps=3, batch_size=BATCH, eval_every=3, lrs=(1e-3,), seeds=(0,),
                    warmup=1, val_size=64),
    # 16,000 steps of 128 = 20.5 epochs; compiled (one STPN step 7 ms instead of 19 eager on
    # one thread), the grid of three rates and its edge extensions fit the two cores
    "cpu": Budget(steps=16_000, batch_size=BATCH, eval_every=2000, lrs=(1e-3, 3e-3, 1e-2),
                  seeds=(0, 1, 2), warmup=100, val_size=10_000, compile=True),
    # 16,000 steps of 128 = 20.5 epochs of the 100k training set
    "paper": Budget(steps=16_000, batch_size=BATCH, eval_every=1000, lrs=(3e-4, 1e-3, 3e-3),
                    seeds=(0, 1, 2), warmup=100, val_size=10_000),
}


# measured by the sweep files in docs/results/stpn-retrieval-lrs after this report's runs, not
# by them (their cache was not kept; the next full run should take the grid into the budget)
LR_GRID = """## The learning rates around 3e-3 (after this report's runs)

The report trains every model at one rate. Its cells were then run at 1e-3 and 1e-2 with the
same budget, split, widths and seeds (`fastweights sweep
docs/results/stpn-retrieval-lrs/lrs.toml`, 36 runs), and one rate further where the best
median validation accuracy sat at an edge (`edge.toml`: STPNf, the LSTM and the plastic RNN
at 3e-2; `edge-low.toml`: the RNN at 3e-4). These runs trained through `torch.compile`
where `train.compile` measured it faster (the LSTM's never; the RNN's in some seeds), which
changes results only at the level of rounding, at commit 23dd0b8 (the edge runs at 60a4575,
which only rewrote views in the delta kernel). Median validation accuracy over seeds 0–2 at
the evaluation chosen on validation, then test accuracy median [min–max] there (3e-3: this
report's runs):

| model | 3e-4 | 1e-3 | 3e-3 | 1e-2 | 3e-2 | chosen | test acc at the chosen rate |
|---|---|---|---|---|---|---|---|
| stpn | | 0.9985 | 1.000 | 1.000 | | 3e-3 (tie, the smaller) | 1.000 [1.000–1.000] |
| stpnf | | 0.510 | 0.600 | **0.750** | 0.703 | 1e-2 | 0.749 [0.683–0.800] |
| lstm | | 0.437 | 0.436 | **0.617** | 0.556 | 1e-2 | 0.622 [0.613–0.652] |
| rnn | 0.428 | **0.431** | 0.428 | 0.427 | | 1e-3 | 0.430 [0.429–0.433] |
| fast-weights-ba | | 0.670 | 1.000 | 1.000 | | 3e-3 (tie, the smaller) | 1.000 [0.999–1.000] |
| plastic-rnn | | 0.431 | 0.564 | **0.901** | 0.853 | 1e-2 | 0.896 [0.891–0.902] |

With the grid, the LSTM (0.434 → 0.622), the plastic RNN (0.574 → 0.896) and STPNf (0.604
→ 0.749) do much better than at the report's single rate, and every chosen rate is inside
the rates tried. The verdict does not change: Ba's fast weights still tie the STPN (both
1.000 at 3e-3 and 1e-2), so criterion (a) fails, and the STPN's energy per step (4.05) stays
below every rival's at its chosen rate, median [min–max] over seeds: LSTM 204.13
[174.14–221.67], RNN 27.58 [14.38–28.52], plastic RNN 56.81 [54.51–64.08] (at 1e-2),
Ba's fast weights 19.35 (3e-3, above); STPNf 1.39 [1.38–1.56] at 1e-2. The energies come
from each run's best checkpoint on the first 1,000 test sequences, as in the table above:

```
python -c "
import sys
from fastweights.train import load_run
from fastweights.analysis.memory_plots import synaptic_energy
for d in sys.argv[1:]:
    r = load_run(d, checkpoint='best')
    print(d, round(synaptic_energy(r.model, r.task.test_set()[0][:1000]), 2))
" runs/stpn-retrieval-lrs/*-lr0.01-* runs/stpn-retrieval-lrs/rnn-*-lr0.001-*
```

So the single rate under-trained three of the six models, which is why a grid is the rule
here; it did not decide this claim. One STPN-retrieval run takes 1–5 min on one thread of
this machine when compiled (16,000 steps; the STPN 4.7–8 ms per step compiled against 18
eager), so the full grid now fits the CPU budget.
"""


def run(ctx: Context) -> Report:
    b = BUDGETS[ctx.scale]
    train_size, _, test_size = SPLITS[ctx.scale]
    sizes = {"input_size": 37, "output_size": 10, "tokens": True}
    widths = {m: fit_width(m, PARAMS, **sizes, **CONFIGS.get(m, {})) for m in MODELS}
    task = {"n_pairs": 3, "train_size": train_size, "test_size": test_size}
    results = run_grid([Cell(m, m, "assoc-retrieval", b,
                             CONFIGS.get(m, {}) | {"d_model": w}, task)
                        for m, w in widths.items()], ctx)

    def energy(run) -> float:
        model, t = run.load()
        return synaptic_energy(model, t.test_set()[0][:ENERGY_SEQS])

    m = measure(results, lambda r: {"acc": r.test(), "energy": energy(r)})
    checks = [
        Check(f"STPN's test accuracy exceeds every other model's by ≥ {MARGIN}",
              lambda v: all(v("stpn", "acc") >= v(o, "acc") + MARGIN
                            for o in MODELS if o != "stpn"),
              lambda v: ", ".join(f"{o} {v(o, 'acc'):.3f}" for o in MODELS)),
        Check(f"STPN's energy per step is below every named rival's ({', '.join(RIVALS)}), "
              f"at any accuracy",
              lambda v: all(v("stpn", "energy") < v(o, "energy") for o in RIVALS),
              lambda v: ", ".join(f"{o} {v(o, 'energy'):.2f}" for o in ["stpn", *RIVALS])),
    ]
    verdict = judge(checks, m)
    acc = {k: spread(r, lambda run: run.test()) for k, r in results.items()}
    top = max(MODELS, key=lambda k: acc[k].median)
    summary = (f"Test accuracy, median [min–max] over {len(b.seeds)} seed(s): " + ", ".join(
        f"{k} {acc[k]}" for k in sorted(MODELS, key=lambda k: -acc[k].median))
        + f" (best: {top}); {verdict.agreement()}.")
    epochs = b.steps * BATCH / train_size
    fig = plot_curves({f"{k} ({r.chosen[0].result['params']} params)":
                       [run.history for run in r.chosen] for k, r in results.items()},
                      "test/accuracy", ctx.workdir / "stpn_retrieval_accuracy.png",
                      ylabel="test accuracy", title="associative retrieval (3 pairs): "
                      "chosen lr per model, median over seeds")
    energy_spread = {k: Spread.of(m[k]["energy"].values()) for k in MODELS}
    fig_e = plot_bars(["energy per step"], {k: [energy_spread[k]] for k in MODELS},
                      ctx.workdir / "stpn_retrieval_energy.png", ylabel="E per step",
                      title="synaptic energy (chosen lr, median over seeds)")
    order = sorted(MODELS, key=lambda k: energy_spread[k].median)
    energy_table = markdown_table(
        ["model", "chosen lr", "test acc", "energy per step", "median / STPN median"],
        [[k, f"{results[k].lr:g}", format(acc[k]), format(energy_spread[k], ".2f"),
          f"{energy_spread[k].median / energy_spread['stpn'].median:.2f}"] for k in order])
    settings = paper_vs_here([
        ("data", "3 pairs, 100k train / 10k validation / 20k test",
         f"3 pairs, {train_size:,} train / {b.val_size:,} validation / {test_size:,} test"),
        ("models", "STPNr, STPNf, LSTM, RNN, Ba, plastic RNN at ~2k parameters",
         "the same, widths fitted to 2,000 parameters: " + ", ".join(
             f"{k} {w}" for k, w in widths.items()) + f"; the paper code's versions ({VARIANTS})"),
        ("training", "Adam 1e-3, batch 128, full BPTT, tens of epochs, several seeds",
         f"AdamW (weight decay 0.01), warm-up + cosine, clip 1.0, full BPTT; {b.describe()}; "
         f"{epochs:.1f} epochs"),
        ("energy", "E_t = Σ_ij |G̃_ij| z_j² (STPN)", f"the same on {ENERGY_SEQS:,} test "
         "sequences at each run's best checkpoint; for the others every input-applied weight "
         "matrix (plus the fast/plastic part), readouts excluded"),
    ], "paper (Rodriguez et al. 2022, code)")
    body = f"""## Setting and budget

Task `assoc-retrieval`: 3 key–value pairs (letter, digit), `??`, the query letter; 37-symbol
one-hot input; the answer read from the last step (many-to-one). Every model gets the same
budget; its learning rate is chosen on the validation split, and each test number is read at
the evaluation with the best validation accuracy.

{settings}

Training runs {epochs:.1f} epochs (the paper's configs allow up to 200 with early stopping).

**Criterion (stated before the run), on medians over seeds.** Criterion (b) used to compare
the STPN only with the models within 5 accuracy points of it; no rival ever came that close,
so it was vacuous. It now compares the STPN's energy with every rival the claim names; STPNf
(the feed-forward STPN) is reported beside them but is not a rival. Criterion (a) asked for
"the highest accuracy" until a rival came within one test sequence of the STPN (see the
history); "beats" now means by at least {MARGIN}.

{verdict.lines()}

## Results

{grid_table(results, {"params": (lambda r: r.result["params"], "g"),
                      "test acc": lambda r: r.test()})}

Energy per step (chosen lr per model, lowest first):

{energy_table}

![accuracy vs step]({fig.name})

![energy]({fig_e.name})

{LR_GRID if ctx.scale == "cpu" else ""}"""
    def early(k: str) -> str:  # validation accuracy at the first evaluation
        return f"{statistics.median(r.history[0]['val/accuracy'] for r in results[k].chosen):.3f}"

    close = [o for o in MODELS if o != "stpn" and acc[o].median > acc["stpn"].median - MARGIN]
    discussion = (f"Within {MARGIN} of the STPN: " + ", ".join(
        f"{o} ({acc[o]} against {acc['stpn']})" for o in close) + ". At this budget "
        "both solve the task, so accuracy does not tell them apart; what does is how soon "
        f"they learn (validation accuracy at the first evaluation, step {b.eval_every:,}: "
        f"STPN {early('stpn')}, " + ", ".join(f"{o} {early(o)}" for o in close)
        + ") and the energy table above.") if close else ""
    return Report(verdict.verdict, summary, body, [fig, fig_e], results, discussion)


REPRODUCTION = Reproduction(
    name="stpn-retrieval",
    paper="Rodriguez, Guo & Moraitis 2022, ICML, arXiv 2206.14048",
    claim="at ~2k parameters, STPN beats LSTM, RNN, Ba et al.'s fast weights and "
          "differentiable plasticity on associative retrieval, and uses the least energy",
    run=run,
    history=(
        "First full run (commit 62d12a3): one seed, learning rates 1e-3 and 3e-3, 2,000 "
        "steps (2.6 epochs), no validation split (best lr by test accuracy), energy compared "
        "only with models within 5 points of the STPN: STPN 0.761 vs ≤ 0.503 (reproduced; "
        "the energy criterion was vacuous, no rival within 5 points).",
        "Now: the paper's 100k/10k/20k split, 16,000 steps (20.5 epochs), one seed, one "
        "learning rate (3e-3, chosen by every model in the first run's grid; no grid for lack "
        "of CPU time), energy compared with every named rival, and the models as the paper's "
        "code computes them (" + VARIANTS + "; before: STPN with h_{t−1} in its Hebbian term, "
        "STPNf with a bias and F normalised, Ba's fast weights as in Ba et al.).",
        "At 20 epochs Ba's fast weights (as the STPN repository runs them) reached test "
        "accuracy 0.99995 against the STPN's 1.000, one test sequence apart: the accuracy "
        "criterion, then 'highest accuracy', passed by that one sequence. It now asks for a "
        f"margin of {MARGIN} (a change made after seeing this run, so the verdict moved down "
        "to partly reproduced because of it).",
        "Three seeds were started and cut to one for CPU time; of the extra seeds the STPN's "
        "finished (seeds 1 and 2: test accuracy 1.000 each, like seed 0), the others' did "
        "not.",
        "Now: seeds 0, 1, 2 for every model (a quieter machine made them fit).",
        "Then, outside this report's runs: every cell at 1e-3 and 1e-2 and one rate beyond "
        "each edge that was best (see \"The learning rates around 3e-3\"): three models "
        "learn much more at 1e-2, the verdict stays.",
    ),
)
