"""Recall vs state size on multi-query associative recall (Arora et al. 2023, Zoology; Yang
et al. 2024, DeltaNet).

Two-layer models learn MQAR; each trained model is placed by its recurrent state (floats per
sequence: the fast weights, plus the short-convolution buffer; for softmax attention the KV
cache of the whole sequence, 2 · n_layers · d_model floats per token times the task's
length). The claim: at a given width and state size the delta rule recalls more than the sum
rule (linear transformer) and the gated sum rules (RetNet, GLA); softmax attention recalls
everything, at a much larger state. Every model gets the same budget, learning-rate grid and
seeds; each cell's learning rate is chosen on a validation split.

The CPU default is a small setting (vocabulary 48, length 32, 6 pairs, widths 16 and 32);
``--scale paper`` runs Zoology's smallest Figure-2 setting (vocabulary 8192, length 64,
4 pairs, widths 64 and 128).
"""

from __future__ import annotations

from fastweights.reproduce.budget import Budget, Context
from fastweights.reproduce.criterion import Check, judge, measure
from fastweights.reproduce.grid import Cell, Run, run_grid
from fastweights.reproduce.plots import plot_lines
from fastweights.reproduce.report import (
    Report,
    Reproduction,
    grid_table,
    paper_vs_here,
    spread,
)

OK = 0.95  # softmax attention's "recalls everything"
MARGIN = 0.05
SUM_MODELS = ("linear-transformer", "retnet", "gla")
DELTA_MODELS = ("deltanet", "gated-deltanet")
SETTINGS = {  # scale -> (task, widths, models)
    "quick": ({"vocab_size": 48, "seq_len": 32, "n_pairs": 6, "test_size": 50}, [16],
              ("linear-transformer", "deltanet")),
    "cpu": ({"vocab_size": 48, "seq_len": 32, "n_pairs": 6, "test_size": 300}, [16, 32],
            (*SUM_MODELS, *DELTA_MODELS)),
    "paper": ({"vocab_size": 8192, "seq_len": 64, "n_pairs": 4, "test_size": 1000}, [64, 128],
              (*SUM_MODELS, *DELTA_MODELS)),
}
# one budget for every model: softmax attention learns MQAR by a late, abrupt jump (at width
# 32, batch 32 and lr 1e-2 it sat at 0.18 after 500 steps and reached 0.9998 after 1000), so
# every model gets its 1000 steps; the others stop early once they reach the target
BUDGETS = {
    "quick": Budget(steps=10, batch_size=32, eval_every=10, lrs=(1e-2,), seeds=(0,), warmup=5,
                    target=0.99, val_size=50),
    "cpu": Budget(steps=1000, batch_size=32, eval_every=100, lrs=(3e-3, 1e-2, 3e-2),
                  seeds=(0, 1, 2, 3, 4), warmup=30, target=0.99, val_size=300),
    "paper": Budget(steps=20_000, batch_size=64, eval_every=1000, lrs=(3e-4, 1e-3, 3e-3),
                    seeds=(0, 1, 2), warmup=500, target=0.99, val_size=1000),
}


def run(ctx: Context) -> Report:
    b, (task, widths, models) = BUDGETS[ctx.scale], SETTINGS[ctx.scale]
    cells = [Cell(f"{m}-d{w}", m, "mqar", b, {"d_model": w, "n_heads": 1, "n_layers": 2},
                  task) for m in (*models, "transformer") for w in widths]
    results = run_grid(cells, ctx)

    def state(r: Run) -> float:
        # the KV cache at the task's length: state_size is then the cost per token
        return r.result["state_size"] * (task["seq_len"] if r.result["state_grows"] else 1)

    m = measure(results, lambda r: {"acc": r.test(), "state": state(r)})
    sums = [x for x in SUM_MODELS if x in models]

    def gap(v, w: int) -> float:
        return v(f"deltanet-d{w}", "acc") - max(v(f"{x}-d{w}", "acc") for x in sums)

    def soft_ok(v, w: int) -> bool:
        recurrent = max(v(f"{x}-d{w}", "state") for x in models)
        return v(f"transformer-d{w}", "acc") >= OK and v(f"transformer-d{w}", "state") > recurrent

    checks = [
        Check(f"at every width DeltaNet's accuracy ≥ the best sum / gated-sum model's "
              f"({', '.join(sums)}), and ≥ {MARGIN} above it at one width at least",
              lambda v: all(gap(v, w) >= 0 for w in widths)
              and any(gap(v, w) >= MARGIN for w in widths),
              lambda v: "DeltaNet minus the best of them: " + ", ".join(
                  f"d={w}: {gap(v, w):+.3f}" for w in widths)),
        Check(f"softmax attention reaches accuracy ≥ {OK} at some width, with a KV cache larger "
              f"than the state of every recurrent model of that width",
              lambda v: any(soft_ok(v, w) for w in widths),
              lambda v: ", ".join(
                  f"d={w}: {v(f'transformer-d{w}', 'acc'):.3f} with "
                  f"{v(f'transformer-d{w}', 'state'):.0f} floats vs at most "
                  f"{max(v(f'{x}-d{w}', 'state') for x in models):.0f}" for w in widths)),
    ]
    verdict = judge(checks, m)
    acc = {k: spread(r, lambda run: run.test()) for k, r in results.items()}
    summary = ("MQAR accuracy, median [min–max] over " f"{len(b.seeds)} seed(s): " + "; ".join(
        f"width {w}: " + ", ".join(f"{x} {acc[f'{x}-d{w}']}" for x in (*models, "transformer"))
        for w in widths) + f"; {verdict.agreement()}.")
    fig = plot_lines({x: [(state(results[f"{x}-d{w}"].chosen[0]), acc[f"{x}-d{w}"])
                          for w in widths] for x in (*models, "transformer")},
                     ctx.workdir / "recall-vs-state.png", xlabel="state (floats per sequence)",
                     ylabel="MQAR accuracy", logx=True,
                     title=f"MQAR ({task['n_pairs']} pairs, length {task['seq_len']}, "
                           f"vocabulary {task['vocab_size']}): median over seeds")
    settings = paper_vs_here([
        ("task", "MQAR, vocabulary 8192, length 64–512, up to 64 pairs (Figure 2's smallest: "
         "length 64, 4 pairs)", f"MQAR, vocabulary {task['vocab_size']}, length "
         f"{task['seq_len']}, {task['n_pairs']} pairs"),
        ("models", "2 layers, widths 64–512, many mixers", "2 layers, one head, widths "
         f"{', '.join(map(str, widths))}; softmax attention at the same widths"),
        ("training", "tens of epochs, best of an lr sweep", f"AdamW, warm-up + cosine; "
         f"{b.describe()}; the same for every model"),
    ], "Zoology (Arora et al. 2023)")
    body = f"""## Setting and budget

{settings}

State size counts floats per sequence: fast weights of both layers plus the short
convolution's buffer (deltanet, gated-deltanet and the linear transformer use a size-4
convolution; RetNet and GLA none, as in their presets); the transformer's KV cache is counted
over the whole sequence: 2 · n_layers · d_model floats per token × {task['seq_len']} tokens. It
grows linearly with length while the recurrent states do not. Every model gets the same
budget: softmax attention needs its steps (it learns MQAR by a late jump in accuracy), and the
recurrent models stop early at the target.

**Pre-stated criterion, on medians over seeds:**

{verdict.lines()}

## Results

{grid_table(results, {"state (floats)": (state, "g"),
                      "params": (lambda r: r.result["params"], "g"),
                      "accuracy": lambda r: r.test()})}

![recall vs state]({fig.name})

"""
    return Report(verdict.verdict, summary, body, [fig], results)


REPRODUCTION = Reproduction(
    name="recall-vs-state",
    paper="Arora et al. 2023 (Zoology); Yang et al. 2024 (DeltaNet)",
    claim="on multi-query associative recall, the delta rule recalls more per float of state "
          "than the sum rule and the gated sum rules; softmax attention recalls everything at a "
          "much larger state.",
    run=run,
    history=(
        "First full run (commit c9a2463): 300 steps, one seed: not reproduced (every model "
        "under-trained; DeltaNet best at width 32 only).",
        "Commit f693141 / 524dbc3: 500 steps, lr 1e-2 first (it learned faster than 3e-3): "
        "partly reproduced (DeltaNet 0.96 / 0.99 beats the sum and gated-sum rules; 2-layer "
        "softmax attention did not learn MQAR in 500 steps at either lr).",
        "Commit 754b20e: softmax attention given 1,000 steps against the others' 500 (it "
        "learns by a late jump), KV cache counted at the task's length: reproduced (DeltaNet "
        "+0.269 / +0.069 over the best sum rule, attention 0.999 at d = 32). The verdict "
        "moved to reproduced after this change, and the budgets were unequal.",
        "Now: the same 1,000-step budget for every model (early stop at 0.99), 5 seeds, a "
        "3-value grid chosen on a validation split, verdict on medians; `--scale paper` runs "
        "Zoology's smallest Figure-2 setting.",
    ),
)
