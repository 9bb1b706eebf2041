"""Capacity of fast-weight memories (Schlag, Irie & Schmidhuber 2021, section 6.1).

One fast-weight layer (d_model = D, one head, so ELU+1 keys have d_dot = D and DPFP(ν=2)
keys d_dot = 2·2·D = 4D) stores S key–value pairs of the ``capacity`` task and is queried on
every key. Setting 1: each key written once; the sum rule should fail once S exceeds d_dot,
DPFP should move the knee to larger S, softmax attention should not fail. Setting 2: keys
recur with new values; the delta rule should track the latest value, the sum rule should
not. Every cell gets the same budget, learning-rate grid and seeds (setting 2 a longer
budget, for its 2S writes); each cell's learning rate is chosen on a validation split.

Criterion, stated before the run, on medians over seeds: four checks (below); all hold →
reproduced; at least two → partly reproduced; else not reproduced.
"""

from __future__ import annotations

from fastweights.analysis.memory_plots import markdown_table
from fastweights.reproduce.budget import Budget, Context
from fastweights.reproduce.criterion import Check, judge, measure
from fastweights.reproduce.grid import Cell, run_grid
from fastweights.reproduce.plots import plot_lines
from fastweights.reproduce.report import (
    Report,
    Reproduction,
    grid_table,
    paper_vs_here,
    spread,
)

OK = 0.9  # accuracy counted as "stores the pairs"
FAIL = 0.5  # accuracy counted as "fails"
GAP = 0.2  # setting 2: the sum rule at least this far below the delta rule
D = {"quick": 16, "cpu": 16, "paper": 64}
SIZES = {"quick": ([4], [4]), "cpu": ([8, 16, 32, 64], [4, 8]),
         "paper": ([32, 64, 128, 256], [20, 50, 100, 200])}  # setting 1, setting 2
LRS, SEEDS = (3e-3, 1e-2, 3e-2), (0, 1, 2, 3, 4)
BUDGETS = {  # scale -> (setting 1, setting 2)
    "quick": (Budget(steps=10, batch_size=32, eval_every=10, lrs=(1e-2,), seeds=(0,),
                     target=0.99, val_size=100),) * 2,
    "cpu": (Budget(steps=500, batch_size=32, eval_every=100, lrs=LRS, seeds=SEEDS,
                   target=0.99),
            Budget(steps=600, batch_size=32, eval_every=100, lrs=LRS, seeds=SEEDS,
                   target=0.99)),
    "paper": (Budget(steps=5000, batch_size=32, eval_every=250, lrs=(3e-4, 1e-3, 3e-3),
                     seeds=(0, 1, 2), target=0.99),) * 2,
}


# measured by the commands below, not by this reproduction's runs
ATTENTION_PROBES = """## Why softmax attention fails here

Softmax attention's KV cache holds every pair, so its failure at S ≥ 32 is not a capacity
limit: the two-layer model never learns to bind a value token to the key before it (an
induction circuit), which the paper's direct key–value memory does not have to learn. The
fast-weight layers get that binding from their size-2 short convolution. Longer training
and other shapes of the model did not help, each at S = 32, seed 0, lr 3e-3 (chance 0.0625):

| variant (d_model 16, 1 head, 2 layers, rotary positions unless said) | steps | test accuracy |
|---|---|---|
| as in the grid | 3,000 | 0.108 |
| learned absolute positions (`--model.positions=learned --model.max_len=256`) | 2,000 | 0.142 |
| 2 heads (`--model.n_heads=2`) | 2,000 | 0.104 |
| width 32 (`--model.d_model=32`) | 2,000 | 0.130 |

Command (the variants add their flags and run `--steps 2000 --train.eval_every=500`):
`fastweights train --model transformer --task capacity
--model.d_model=16 --model.n_heads=1 --model.n_layers=2 --task.n_keys=32 --task.n_values=16
--task.test_size=500 --steps 3000 --train.batch_size=32 --train.eval_every=250 --lr 3e-3
--seed 0`. The check stays as stated and fails; what it measures at this budget is whether
the transformer learns the task, not whether its memory holds the pairs.
"""


def memories(d: int) -> tuple[list, list]:
    """(label, model, config, d_dot or None for softmax) for settings 1 and 2."""
    layer = {"d_model": d, "n_heads": 1, "n_layers": 1}
    elu = ("sum rule, ELU+1", "linear-transformer",
           layer | {"feature_map": "elu+1", "conv_size": 2}, d)
    dpfp = ("sum rule, DPFP ν=2", "linear-transformer",
            layer | {"feature_map": "dpfp", "dpfp_nu": 2, "conv_size": 2}, 4 * d)
    # two layers: without a short convolution, one attention layer cannot bind a value token
    # to the key token before it (an induction head needs two)
    soft = ("softmax attention (2 layers)", "transformer", layer | {"n_layers": 2}, None)
    delta = ("delta rule", "deltanet", layer | {"conv_size": 2}, d)
    return [elu, dpfp, soft], [elu, delta]


def run(ctx: Context) -> Report:
    d, (sizes1, sizes2), (b1, b2) = D[ctx.scale], SIZES[ctx.scale], BUDGETS[ctx.scale]
    setting1, setting2 = memories(d)
    if ctx.quick:  # one cell per setting, to exercise the code path in seconds
        setting1, setting2 = setting1[:1], setting2[1:]
    labels = {}
    cells = []
    for setting, mems, sizes, b in ((1, setting1, sizes1, b1), (2, setting2, sizes2, b2)):
        for label, model, cfg, d_dot in mems:
            for S in sizes:
                key = "-".join(filter(None, (f"s{setting}", model, cfg.get("feature_map"),
                                             f"S{S}")))
                labels[key] = (setting, label, S, d_dot)
                cells.append(Cell(key, model, "capacity", b, cfg,
                                  {"n_keys": S, "n_values": 16, "n_queries": None,
                                   "replace": setting == 2, "test_size": 100 if ctx.quick
                                   else 500}))
    results = run_grid(cells, ctx)
    m = measure(results, lambda r: {"acc": r.test(), "loss": r.test("loss")})

    def key(setting: int, label: str, S: int) -> str:
        return next(k for k, (s, lab, size, _) in labels.items()
                    if (s, lab, size) == (setting, label, S))

    def capacity(v, label: str) -> int:
        return max((S for S in sizes1 if v(key(1, label, S), "acc") >= OK), default=0)

    elu, dpfp, soft = (x[0] for x in memories(d)[0])
    delta = memories(d)[1][1][0]
    small, large = [S for S in sizes1 if S < d], [S for S in sizes1 if S >= 2 * d]
    checks = [
        Check(f"sum rule (ELU+1, d_dot={d}) stores S < d_dot (accuracy ≥ {OK}) and fails at "
              f"S ≥ 2·d_dot (accuracy < {FAIL})",
              lambda v: bool(small) and bool(large)
              and all(v(key(1, elu, S), "acc") >= OK for S in small)
              and all(v(key(1, elu, S), "acc") < FAIL for S in large),
              lambda v: ", ".join(f"S={S}: {v(key(1, elu, S), 'acc'):.3f}" for S in sizes1)),
    ]
    if not ctx.quick:
        checks += [
            Check(f"DPFP ν=2 stores more pairs than ELU+1 (largest S at accuracy ≥ {OK})",
                  lambda v: capacity(v, dpfp) > capacity(v, elu),
                  lambda v: f"{capacity(v, dpfp)} vs {capacity(v, elu)}"),
            Check(f"softmax attention stores every S tried (accuracy ≥ {OK})",
                  lambda v: all(v(key(1, soft, S), "acc") >= OK for S in sizes1),
                  lambda v: ", ".join(f"S={S}: {v(key(1, soft, S), 'acc'):.3f}"
                                      for S in sizes1)),
            Check(f"setting 2: the delta rule tracks the latest value (accuracy ≥ {OK}) and the "
                  f"sum rule stays ≥ {GAP} below it, at every S",
                  lambda v: all(v(key(2, delta, S), "acc") >= OK and v(key(2, elu, S), "acc")
                                <= v(key(2, delta, S), "acc") - GAP for S in sizes2),
                  lambda v: ", ".join(f"S={S}: {v(key(2, delta, S), 'acc'):.3f} vs "
                                      f"{v(key(2, elu, S), 'acc'):.3f}" for S in sizes2)),
        ]
    verdict = judge(checks, m, partly_at=2)
    acc = {k: spread(r, lambda run: run.test()) for k, r in results.items()}
    loss = {k: spread(r, lambda run: run.test("loss")) for k, r in results.items()}
    passed = sum(o is True for o in verdict.outcomes)
    summary = (f"{passed}/{len(checks)} pre-stated checks hold on medians over "
               f"{len(b1.seeds)} seed(s); {verdict.agreement()}.")

    def table(setting: int, sizes: list[int]) -> str:
        mems = {lab: dd for k, (s, lab, _, dd) in labels.items() if s == setting}
        return markdown_table(["memory", "d_dot", *(f"S={S}" for S in sizes)], [
            [lab, dd or "— (grows)", *(f"{acc[key(setting, lab, S)]} / "
                                       f"{loss[key(setting, lab, S)]:.3f} (lr "
                                       f"{results[key(setting, lab, S)].lr:g})" for S in sizes)]
            for lab, dd in mems.items()])

    figs = [plot_lines({lab: [(labels[k][2], acc[k]) for k in labels
                              if labels[k][:2] == (setting, lab)]
                        for lab in dict.fromkeys(lab for s, lab, _, _ in labels.values()
                                                 if s == setting)},
                       ctx.workdir / f"capacity_setting{setting}.png", xlabel="S (pairs)",
                       ylabel="test accuracy", logx=True, threshold=OK, title=title)
            for setting, title in ((1, "setting 1: each key written once"),
                                   (2, "setting 2: keys recur, target the latest value"))]
    settings = paper_vs_here([
        ("memory", "one fast-weight layer, d_key = 64", f"one layer, d_model = d_head = {d}, "
         "one head; short conv (size 2), so a value token's key is the token before it; MLP "
         "block"),
        ("feature maps", "linear, ELU+1, FAVOR+, DPFP(ν = 1…3)", f"ELU+1 (d_dot = {d}), DPFP "
         f"ν=2 (d_dot = {4 * d}), softmax attention (two layers)"),
        ("S (setting 1)", "20 … 600", ", ".join(map(str, sizes1))),
        ("S (setting 2, 2S writes)", "20 … 200", ", ".join(map(str, sizes2))),
        ("inputs", "random key/value vectors", "token ids: keys 0…S−1, 16 values; every key "
         "queried once per sequence"),
        ("training", "½‖onehot(v) − ŷ‖², Adam 1e-3, batch 32, until loss ≤ 0.001",
         f"cross-entropy, AdamW; setting 1: {b1.describe()}; setting 2: ≤ {b2.steps} steps, "
         "otherwise the same"),
    ], "paper (Schlag et al. 2021)")
    body = f"""## Setting and budget

{settings}

Our budget is far below the paper's (hundreds of steps, not training to convergence), so a
cell that did not reach {OK} may be under-trained rather than over capacity; the learning-rate
grid (extended when its best value is at an edge) is the guard against the most common cause.

**Pre-stated criterion, on medians over seeds** (all hold: reproduced; at least two: partly
reproduced; else not reproduced):

{verdict.lines()}

## Results

Test accuracy (median [min–max] over seeds) / median test loss at each cell's chosen lr.

Setting 1 (each key once):

{table(1, sizes1)}

![setting 1]({figs[0].name})

Setting 2 (keys recur; the target is the latest value):

{table(2, sizes2)}

![setting 2]({figs[1].name})

Every cell and learning rate:

{grid_table(results, {"test acc": lambda r: r.test(), "test loss": lambda r: r.test("loss")})}

{"" if ctx.quick else ATTENTION_PROBES}"""
    return Report(verdict.verdict, summary, body, figs, results)


REPRODUCTION = Reproduction(
    name="capacity",
    paper="Schlag, Irie & Schmidhuber 2021",
    claim="sum-rule fast-weight memory fails once the number of stored pairs S exceeds the "
          "feature dimension d_dot; DPFP raises d_dot and the capacity with it; softmax attention "
          "does not fail; when keys recur with new values the delta rule tracks the latest value "
          "and the sum rule cannot.",
    run=run,
    history=(
        "First full run (commit 65a79a7): lr 1e-2, cells below 0.9 retried at 3e-3, one "
        "seed, 500 steps (setting 2: 600): partly reproduced, 3/4 (2-layer softmax attention "
        "did not learn S = 32 in 500 steps).",
        "Commit 5e0be47: rerun after the auto-form change, verdict unchanged (DPFP at S = 16 "
        "0.761 → 0.873).",
        "Commit aca9a27: 5 seeds, a 3-value grid (3e-3, 1e-2, 3e-2) chosen per cell on a "
        "validation split, verdict on medians, S up to 64 = 4·d_dot of ELU+1: partly "
        "reproduced, 3/4 as before (softmax attention fails at S = 32 and 64; see below).",
        "Now (commit 2f5ec35): the same, with the delta rule's preset (DeltaNet) applying "
        "SiLU once to q and k (the short convolution's, as fla's layer) where it applied it "
        "twice. Verdict unchanged (3/4; now 5 of 5 seeds agree, was 4 of 5); the delta "
        "rule's setting-2 cells stay at 1.000, and the cells without it moved too, by the "
        "changes at rounding level since aca9a27 (the hand-written backwards of RMSNorm and "
        "the short convolution, the reordered kernels; DPFP at S = 16 / 32: 0.969 / 0.956 → "
        "1.000 / 0.930).",
    ),
)
