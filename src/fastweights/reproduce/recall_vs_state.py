"""Recall vs state size on multi-query associative recall (Arora et al. 2023, Zoology; Yang
et al. 2024, DeltaNet).

Two-layer models learn MQAR; each trained model is placed by its recurrent state (floats per
sequence: the fast weights, plus the short-convolution buffer; for softmax attention the KV
cache of the whole sequence, 2 · n_layers · d_model floats per token times the task's
length). The claim: at a given width and state size the delta rule recalls more than the sum
rule (linear transformer) and the gated sum rules (RetNet, GLA); softmax attention recalls
everything, at a much larger state. Every model gets the same budget, learning-rate grid and
seeds; each cell's learning rate is chosen on a validation split.

The CPU default is a small setting (vocabulary 48, length 32, 6 pairs, widths 16 and 32),
with Zoology's smallest Figure-2 setting (vocabulary 8192, length 64, 4 pairs) beside it at
width 64 for the linear transformer, DeltaNet and softmax attention (one or two learning
rates);
``--scale paper`` runs the Figure-2 setting for every model at widths 64 and 128.
"""

from __future__ import annotations

import dataclasses

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
# the next-wave rules, measured beside the claim's models (the criterion reads only those)
NEXT_MODELS = ("kda", "mlstm", "rwkv7", "titans", "oja", "mesanet")
SETTINGS = {  # scale -> (task, widths, models)
    "quick": ({"vocab_size": 48, "seq_len": 32, "n_pairs": 6, "test_size": 50}, [16],
              ("linear-transformer", "deltanet")),
    "cpu": ({"vocab_size": 48, "seq_len": 32, "n_pairs": 6, "test_size": 300}, [16, 32],
            (*SUM_MODELS, *DELTA_MODELS, *NEXT_MODELS)),
    "paper": ({"vocab_size": 8192, "seq_len": 64, "n_pairs": 4, "test_size": 1000}, [64, 128],
              (*SUM_MODELS, *DELTA_MODELS, *NEXT_MODELS)),
}
# one budget for every model: softmax attention learns MQAR by a late, abrupt jump (at width
# 32, batch 32 and lr 1e-2 it sat at 0.18 after 500 steps and reached 0.9998 after 1000), so
# every model gets its 1000 steps; the others stop early once they reach the target
BUDGETS = {
    "quick": Budget(steps=10, batch_size=32, eval_every=10, lrs=(1e-2,), seeds=(0,), warmup=5,
                    target=0.99, val_size=50),
    "cpu": Budget(steps=1000, batch_size=32, eval_every=100, lrs=(3e-3, 1e-2, 3e-2),
                  seeds=(0, 1, 2), warmup=30, target=0.99, val_size=300),
    "paper": Budget(steps=20_000, batch_size=64, eval_every=1000, lrs=(3e-4, 1e-3, 3e-3),
                    seeds=(0, 1, 2), warmup=500, target=0.99, val_size=1000),
}

# Zoology's smallest Figure-2 setting beside the small one, at every scale but paper (where it
# is the main setting): width 64 only, the linear transformer, DeltaNet and softmax attention,
# lr 1e-2 (where a probe of DeltaNet learned it; PROBE below), for CPU time
FIGURE2 = {"vocab_size": 8192, "seq_len": 64, "n_pairs": 4}
FIGURE2_MODELS = ("linear-transformer", "deltanet", "transformer")
FIGURE2_RUNS = {  # scale -> (test size, widths, budget)
    "quick": (50, [16], Budget(steps=4, batch_size=8, eval_every=4, lrs=(1e-2,), seeds=(0,),
                               warmup=2, target=0.99, val_size=50, extend=0)),
    "cpu": (1000, [64], Budget(steps=3000, batch_size=64, eval_every=250, lrs=(1e-2,),
                               seeds=(0, 1, 2), warmup=100, target=0.99, val_size=500,
                               extend=0)),
}

# softmax attention did not leave chance at lr 1e-2 in 3,000 steps (3 of 3 seeds), so it
# gained a second rate, the one that first taught it MQAR at width 32 in the small setting,
# and, that one being chosen at the lower edge, a third below it
# the probe that chose lr 1e-2 (its run, not this reproduction's)
PROBE = ("A probe of DeltaNet at lr 1e-2 (`fastweights train --model deltanet --task mqar "
         "--model.feature_map=silu --model.d_model=64 --model.n_heads=1 --model.n_layers=2 "
         "--task.vocab_size=8192 --task.seq_len=64 --task.n_pairs=4 --task.test_size=500 "
         "--steps 3000 "
         "--train.batch_size=64 --train.eval_every=250 --train.warmup=100 --lr 1e-2 "
         "--seed 0`, stopped after step 1,250) sat at chance for 1,000 steps (the 8,192-way "
         "head must first learn which tokens are values) and reached 0.92 test accuracy at "
         "step 1,250; at 3e-3 (the command in the settings history) it was still at chance "
         "after 1,500 steps.")
FIGURE2_LRS = {("cpu", "transformer"): dataclasses.replace(FIGURE2_RUNS["cpu"][2],
                                                           lrs=(1e-3, 3e-3, 1e-2))}
# measured by the sweep files in docs/results/recall-gap, not by this reproduction's runs
GATED_GAP = """## The gated models' recall gap

In the first runs Gated DeltaNet (0.68) and RetNet / GLA (0.12–0.18) trailed DeltaNet (0.96)
at width 16 far more than the literature reports. The presets were checked against the
papers' layers as fla implements them (`gated_deltanet.py`, `gla.py`,
`multiscale_retention.py`):

- Gated DeltaNet's gate: fla g = −e^{A_log}·softplus(W_a x + dt_bias), A ~ U(0, 16),
  dt ~ log-U[1e-3, 1e-1]; ours the same with A ~ U[1, 16] (Mamba2's range). Unchanged.
- Gated DeltaNet's q, k, v: SiLU(short convolution of size 4), q and k L2-normalised,
  β = σ(W_β x), output RMSNorm(o) ⊙ SiLU(W_g x); ours the same, except that φ = SiLU was
  applied once more after the convolution's SiLU (deltanet did the same, so this cannot
  part the two). **Now once, as in fla (commit 2f5ec35); measured below.**
- GLA's gate: logsigmoid(W₂W₁x + b)/16 with rank 16; ours the same. Keys: fla's are half
  the width (expand_k = 0.5), no feature map, no norm; ours of full width. Unchanged.
- RetNet: fixed decays 1 − 2^{−5−h} per head, as ours; the paper rotates q and k by
  position (xPos) and makes values twice as wide; ours neither. Unchanged.
- Short convolution: Gated DeltaNet's layer has one; fla's GLA and RetNet layers offer it
  as an option, off by default; our RetNet and GLA presets had none. **Now size 4 for every
  preset.**

Without the short convolution and without xPos, RetNet and GLA have no local positional
signal: nothing in the layer can bind a key to the value that follows it, which is what
MQAR asks. With the convolution (the option fla offers for both, and the one every other
preset here has) they learn the task. The equation of the layer does not change (the
convolution was already an option; `conv_size=0` restores the old RetNet and GLA). The state
of RetNet and GLA grows by the convolution's buffer, to the 800 floats of DeltaNet at width
16. Registry names whose default changed: `retnet`, `gla` (pins rerecorded).

MQAR accuracy at the small setting (width 16, one head, 2 layers, vocabulary 48, length 32,
6 pairs), lr 1e-2, ≤ 1,000 steps (stop at 0.99), seeds 0, 1, 2:

| model | conv | seed 0 | seed 1 | seed 2 | median [min–max] |
|---|---|---|---|---|---|
| retnet | none (before) | 0.135 | 0.161 | 0.147 | 0.147 [0.135–0.161] |
| retnet | 4 (now) | 0.639 | 0.814 | 0.896 | 0.814 [0.639–0.896] |
| gla | none (before) | 0.164 | 0.168 | 0.172 | 0.168 [0.164–0.172] |
| gla | 4 (now) | 0.659 | 0.913 | 0.499 | 0.659 [0.499–0.913] |
| gated-deltanet | 4 | 0.982 | 0.847 | 0.130 | 0.847 [0.130–0.982] |
| deltanet | 4 | 0.990 | 0.988 | 0.988 | 0.988 [0.988–0.990] |

Two more seeds of Gated DeltaNet (3, 4) in the same setting: 0.982 and 0.117, so over five
seeds its median is 0.847 [0.117–0.982] against DeltaNet's 0.988. With the convolution,
RetNet and GLA remain below DeltaNet at equal state (800 floats) in every seed here, but by
0.17–0.33 in median rather than by 0.8. The grid's first full run with them (one seed, lr
chosen on validation) gave at width 16 RetNet 0.617 and GLA 0.757 against DeltaNet's 0.992,
at width 32 within 0.04 of it; the three-seed grid above shows the same order at width 16
and a tie at the target at width 32.

Gated DeltaNet's layer follows the paper's equations (fla's widens the values 2×,
expand_v = 2; ours keeps V = d/H, DeltaNet's shape, so that the two hold equal state). In
these runs its gap looked like seed variance set by the decay drawn at initialisation: with
one head per layer, each layer draws one decay, and the draw sets how much of the context
survives the ≤ 30 steps between a pair and its query.
α^30 = exp(−30·A·dt) at initialisation, layer 1 / layer 2, and the run's accuracy: seed 0
0.57 / 0.55 → 0.982 (0.93 already at step 500); seed 1 0.36 / 0.000 → 0.847 (learning only
after step 400); seed 2 0.016 / 0.21 → 0.130; seed 3 0.66 / 0.000 → 0.982; seed 4
0.000 / 0.000 → 0.117. Every seed whose first layer starts by keeping a third or more of the
context learns; the two whose first layer forgets it within a few steps do not, in 1,000
steps. (Seed 4 was predicted to fail from its decays before its run finished.) The gate's
bias sits near −4.6 (dt ≈ 0.01), where softplus has slope σ(bias) ≈ 0.01, so a
fast-forgetting gate closes slowly. The first runs' 500-step budget also cut late learners
short. fla's layers have many heads (6–16 at the papers' widths), so some head always starts
slow; the single-head setting here is where the Mamba2 initialisation is weakest. The runs
below test that reading and find the output gate instead.

The second SiLU, measured after this report's runs (same setting, 10 seeds each, commit
d3c7a63): with the convolution's SiLU only (φ = identity, fla's layer) Gated DeltaNet reaches
0.797 [0.139–0.988] (5 of 10 seeds ≥ 0.9), with both SiLUs (the preset before commit 2f5ec35) 0.513
[0.113–0.991] (2 of 10); DeltaNet 0.989 [0.726–0.994] against 0.988 [0.879–0.992]. So the
extra SiLU is not neutral for the gated model: removing it narrows the gap's median by
0.28 but leaves the seed spread. (The control's seeds 0–2 of Gated DeltaNet, 0.991 / 0.626 /
0.400, differ from the table's 0.982 / 0.847 / 0.130, run at an earlier commit: its kernels
have changed since at the level of rounding, and with one head these runs amplify that;
DeltaNet's three are identical.) Since commit 2f5ec35 the presets apply it once, as fla
(`feature_map="silu"`, the variant `two-silus`, restores the earlier layer); this report's
runs (commit b6c636f) and those of negative-eigenvalues, capacity, char-lm and
formal-languages use them.

What the rest of the gap comes from, measured with the one-SiLU presets (same setting,
lr 1e-2, seeds 0–9, commit 449201b; the presets' rows are silu-once.toml rerun there, with
the medians it gave before):

| model | median [min–max] | seeds ≥ 0.9 |
|---|---|---|
| Gated DeltaNet, the preset | 0.797 [0.139–0.988] | 5 of 10 |
| Gated DeltaNet, its decay starting slow (Δ ∈ [1e-4, 1e-3]) | 0.504 [0.266–0.971] | 3 of 10 |
| Gated DeltaNet without its output gate | 0.989 [0.118–0.992] | 9 of 10 |
| DeltaNet with Gated DeltaNet's output gate | 0.916 [0.473–0.988] | 6 of 10 |
| DeltaNet, the preset | 0.989 [0.726–0.994] | 9 of 10 |

A decay that starts slow (α^30 ≥ 0.62 in every layer at initialisation) does not close the
gap (it widens it), so the decay drawn at
initialisation is not what decides most seeds. Removing the output gate does: Gated
DeltaNet then learns in 9 of 10 seeds, as DeltaNet does; the one that fails is seed 4,
whose first layer starts forgetting within a few steps (α^30 = 0.000), while seed 2, whose
layers start nearly as forgetful (0.016 / 0.019), learns (0.989). The output gate
costs DeltaNet too (median 0.989 → 0.916). So at width 16 with one head, what slows Gated
DeltaNet's recall learning within 1,000 steps is the output gate RMSNorm(o) ⊙ SiLU(W_r x)
(fla's `use_gate`, on in its Gated DeltaNet), not the forgetting gate. The preset keeps it,
as the paper's layer has it; `--model.output_gate=false` removes it.

Commands (each prints one test accuracy per run and the median): `fastweights sweep
docs/results/recall-gap/before.toml` (RetNet and GLA without the convolution, Gated
DeltaNet), `fastweights sweep docs/results/recall-gap/after.toml` (RetNet and GLA with it,
DeltaNet), `fastweights sweep docs/results/recall-gap/gated-seeds.toml` (Gated
DeltaNet, seeds 3 and 4), `fastweights sweep docs/results/recall-gap/silu-once.toml` and
`silu-twice.toml` (DeltaNet and Gated DeltaNet with one SiLU and with two, seeds 0–9),
`slow-gate.toml`, `no-output-gate.toml` and `deltanet-output-gate.toml` (the table above,
beside silu-once.toml's presets); about 2–6 min per run at one thread on the shared 2-core
machine (10–40 s for the silu and gate sweeps), with the runs in `runs/recall-gap/`. The
decays at initialisation, from the repository root after the sweeps (the trainer seeds with
the run's seed before it builds the model):

```
python -c "
import glob, math, torch, torch.nn.functional as F
from fastweights.train import load_run
for d, s in [('before', 0), ('before', 1), ('before', 2), ('gated-seeds', 3),
             ('gated-seeds', 4), *(('no-output-gate', s) for s in range(10))]:
    run, = glob.glob(f'runs/recall-gap/{d}/gated-deltanet-mqar-lr0.01-*s{s}-*')
    exp = load_run(run).experiment
    torch.manual_seed(s)
    m = exp.build_model()
    print(s, [round(math.exp(-30 * b.mixer.a_log.exp().item()
                             * F.softplus(b.mixer.gate_proj.bias).item()), 3) for b in m.blocks])
"
```
"""


def next_wave(scale: str, widths: list[int], b: Budget) -> tuple[list[int], Budget]:
    """The widths and budget of the next-wave models, measured beside the claim: on the CPU
    the first width only, at the learning rate the delta rules choose (1e-2; a 1,000-step
    probe of each at seed 0 learned there), for CPU time; elsewhere as every model."""
    if scale != "cpu":
        return widths, b
    return widths[:1], dataclasses.replace(b, lrs=(1e-2,), extend=0)


def run(ctx: Context) -> Report:
    b, (task, widths, models) = BUDGETS[ctx.scale], SETTINGS[ctx.scale]
    next_widths, b_next = next_wave(ctx.scale, widths, b)
    at = {m: (next_widths, b_next) if m in NEXT_MODELS else (widths, b)
          for m in (*models, "transformer")}
    cells = [Cell(f"{m}-d{w}", m, "mqar", bm,
                  {"d_model": w, "n_heads": 1, "n_layers": 2}, task)
             for m, (ws, bm) in at.items() for w in ws]
    test_size, fig_widths, b_fig = FIGURE2_RUNS.get(ctx.scale, (0, [], b))
    fig_cells = [Cell(f"figure2-{m}-d{w}", m, "mqar", FIGURE2_LRS.get((ctx.scale, m), b_fig),
                      {"d_model": w, "n_heads": 1, "n_layers": 2},
                      FIGURE2 | {"test_size": test_size})
                 for m in FIGURE2_MODELS for w in fig_widths]
    everything = run_grid(cells + fig_cells, ctx)
    results = {c.key: everything[c.key] for c in cells}
    fig_results = {c.key: everything[c.key] for c in fig_cells}

    def state(r: Run) -> float:
        # the KV cache at the task's length: state_size is then the cost per token
        length = FIGURE2["seq_len"] if r.cell.startswith("figure2-") else task["seq_len"]
        return r.result["state_size"] * (length if r.result["state_grows"] else 1)

    m = measure(everything, lambda r: {"acc": r.test(), "state": state(r)})
    sums = [x for x in SUM_MODELS if x in models]
    claim = [x for x in models if x in SUM_MODELS + DELTA_MODELS]

    def gap(v, w: int) -> float:
        return v(f"deltanet-d{w}", "acc") - max(v(f"{x}-d{w}", "acc") for x in sums)

    def soft_ok(v, w: int) -> bool:
        recurrent = max(v(f"{x}-d{w}", "state") for x in claim)
        return v(f"transformer-d{w}", "acc") >= OK and v(f"transformer-d{w}", "state") > recurrent

    checks = [
        Check(f"at every width DeltaNet's accuracy ≥ the best sum / gated-sum model's "
              f"({', '.join(sums)}), and ≥ {MARGIN} above it at one width at least",
              lambda v: all(gap(v, w) >= 0 for w in widths)
              and any(gap(v, w) >= MARGIN for w in widths),
              lambda v: "DeltaNet minus the best of them: " + ", ".join(
                  f"d={w}: {gap(v, w):+.3f}" for w in widths)),
        Check(f"softmax attention reaches accuracy ≥ {OK} at some width, with a KV cache larger "
              f"than the state of every sum / delta-rule model of that width",
              lambda v: any(soft_ok(v, w) for w in widths),
              lambda v: ", ".join(
                  f"d={w}: {v(f'transformer-d{w}', 'acc'):.3f} with "
                  f"{v(f'transformer-d{w}', 'state'):.0f} floats vs at most "
                  f"{max(v(f'{x}-d{w}', 'state') for x in claim):.0f}" for w in widths)),
    ]
    if fig_cells:
        checks.append(Check(
            f"in Zoology's smallest Figure-2 setting (vocabulary {FIGURE2['vocab_size']}, "
            f"length {FIGURE2['seq_len']}, {FIGURE2['n_pairs']} pairs), at width "
            f"{', '.join(map(str, fig_widths))}: DeltaNet's accuracy ≥ the linear "
            f"transformer's, and softmax attention's ≥ {OK}",
            lambda v: all(v(f"figure2-deltanet-d{w}", "acc")
                          >= v(f"figure2-linear-transformer-d{w}", "acc")
                          and v(f"figure2-transformer-d{w}", "acc") >= OK for w in fig_widths),
            lambda v: "; ".join(f"d={w}: " + ", ".join(
                f"{x} {v(f'figure2-{x}-d{w}', 'acc'):.3f}" for x in FIGURE2_MODELS)
                for w in fig_widths)))
    verdict = judge(checks, m)
    acc = {k: spread(r, lambda run: run.test()) for k, r in everything.items()}
    summary = ("MQAR accuracy, median [min–max] over " f"{len(b.seeds)} seed(s): " + "; ".join(
        f"width {w}: " + ", ".join(f"{x} {acc[f'{x}-d{w}']}" for x in at if w in at[x][0])
        for w in widths) + "".join(
        f"; Zoology's Figure-2 setting, width {w}: " + ", ".join(
            f"{x} {acc[f'figure2-{x}-d{w}']}" for x in FIGURE2_MODELS) for w in fig_widths)
        + f"; {verdict.agreement()}.")
    fig = plot_lines({x: [(state(results[f"{x}-d{w}"].chosen[0]), acc[f"{x}-d{w}"])
                          for w in ws] for x, (ws, _) in at.items()},
                     ctx.workdir / "recall-vs-state.png", xlabel="state (floats per sequence)",
                     ylabel="MQAR accuracy", logx=True,
                     title=f"MQAR ({task['n_pairs']} pairs, length {task['seq_len']}, "
                           f"vocabulary {task['vocab_size']}): median over seeds")
    ceiling = b.target - 0.01 if b.target else None

    def at_ceiling(w: int) -> str:
        top = [x for x in claim if ceiling is not None and acc[f"{x}-d{w}"].median >= ceiling]
        return (f"at width {w}, {len(top)} of the {len(claim)} sum / delta models have a "
                f"median within 0.01 of the early-stop target {b.target:g} "
                f"({', '.join(top) or 'none'})")

    def learned(w: int) -> str:
        runs = results[f"transformer-d{w}"].chosen
        return f"{sum(r.test() >= OK for r in runs)} of {len(runs)} seeds at width {w}"

    wide = sorted(((acc[k].hi - acc[k].lo, k) for k in acc if acc[k].n > 1), reverse=True)[:4]
    seeds_text = f"""## What the seeds show

- The widths differ in kind: {'; '.join(at_ceiling(w) for w in widths)}. Where the
  models sit at the target, the first check compares runs that stopped at the same accuracy,
  and a difference of a few thousandths between medians is noise, not a ranking.
- The seeds spread widely for some cells at their chosen learning rate (max − min):
  {', '.join(f"{k} {d:.3f} ({acc[k]})" for d, k in wide)}. One seed can move a median,
  which is why a verdict from one seed was not enough.
- Softmax attention learns MQAR (accuracy ≥ {OK}) within the budget at its chosen lr in
  {'; '.join(learned(w) for w in widths)}.
""" if len(b.seeds) > 1 else ""
    settings = paper_vs_here([
        ("task", "MQAR, vocabulary 8192, length 64–512, up to 64 pairs (Figure 2's smallest: "
         "length 64, 4 pairs)", f"MQAR, vocabulary {task['vocab_size']}, length "
         f"{task['seq_len']}, {task['n_pairs']} pairs" + (
             f"; and Zoology's smallest Figure-2 setting at width "
             f"{', '.join(map(str, fig_widths))} (below)" if fig_cells else "")),
        ("models", "2 layers, widths 64–512, many mixers", "2 layers, one head, widths "
         f"{', '.join(map(str, widths))}; softmax attention at the same widths"),
        ("training", "tens of epochs, best of an lr sweep", f"AdamW, warm-up + cosine; "
         f"{b.describe()}; the same for every model of the claim" + (
             f"; the next-wave models ({', '.join(x for x in models if x in NEXT_MODELS)}) "
             f"at width{'s' * (len(next_widths) > 1)} {', '.join(map(str, next_widths))} "
             f"with {b_next.describe()} (measured beside the claim, for CPU time)"
             if b_next is not b and any(x in NEXT_MODELS for x in models) else "")),
    ], "Zoology (Arora et al. 2023)")
    def fig_learned(w: int) -> str:
        def n(x: str, level: float) -> str:
            runs = fig_results[f"figure2-{x}-d{w}"].chosen
            return f"{sum(r.test() >= level for r in runs)} of {len(runs)}"
        return (f"At width {w}, test accuracy ≥ 0.9 within the budget: "
                + ", ".join(f"{x} {n(x, 0.9)} seeds" for x in FIGURE2_MODELS) + ".")

    extra = FIGURE2_LRS.get((ctx.scale, "transformer"))
    also = ("; softmax attention also at "
            + " and ".join(f"{lr:g}" for lr in extra.lrs if lr not in b_fig.lrs)
            + ", added after it stayed at chance at 1e-2 in every seed (3e-3 first, then "
              "1e-3 once 3e-3 was chosen at the lower edge)" if extra else "")
    fig_text = f"""## Zoology's smallest Figure-2 setting

MQAR at vocabulary {FIGURE2['vocab_size']}, length {FIGURE2['seq_len']}, {FIGURE2['n_pairs']}
pairs (Zoology's smallest Figure-2 panel), 2 layers of one head at width
{', '.join(map(str, fig_widths))}: the linear transformer, DeltaNet and softmax attention,
{b_fig.describe()}{also}. One rate for the others, not a grid of three. {PROBE} A grid of three
rates × three seeds × three models at up to {b_fig.steps:,} steps does not fit this CPU's
budget. Zoology's own grid spans widths 64–512 and sweeps the learning rate per model; here
the other widths and mixers are left to `--scale paper`.

{grid_table(fig_results, {"state (floats)": (state, "g"),
                  "params": (lambda r: r.result["params"], "g"),
                  "accuracy": lambda r: r.test(),
                  "steps to 0.9 (test)": (lambda r: r.steps_to(0.9), "g")})}

{' '.join(fig_learned(w) for w in fig_widths)} The cells that did not learn in every seed
are the ones a wider grid or a longer budget would most likely change: in the small setting
softmax attention too learned only by a late jump, at the learning rate chosen for it.
""" if fig_cells else ""
    body = f"""## Setting and budget

{settings}

State size counts floats per sequence: fast weights of both layers plus the short
convolution's buffer (every recurrent preset uses a size-4 convolution; RetNet's and GLA's
gained theirs after the first runs, see below); the transformer's KV cache is counted
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

{fig_text}
{seeds_text}
{GATED_GAP}
"""
    return Report(verdict.verdict, summary, body, [fig], everything)


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
        "Then (commit 3a5bcc3): the RetNet and GLA presets gained the size-4 short "
        "convolution; without it (or RetNet's xPos) they stayed near 0.15 at width 16 "
        "(see \"The gated models' recall gap\").",
        "Commit 63f29b5: the same 1,000-step budget for every model (early stop at 0.99), "
        "one seed, a 3-value grid chosen on a validation split, verdict on medians; the "
        "next-wave rules' presets beside them at width 16 and lr 1e-2: reproduced (1 of 1 "
        "seeds).",
        "Commit 2a5baa3: the same with seeds 0, 1, 2 for every model, the learning rate "
        "chosen by the median over seeds. Zoology's smallest Figure-2 setting stayed in "
        "`--scale paper`: "
        "a probe of DeltaNet there (`fastweights train --model deltanet --task mqar "
        "--model.feature_map=silu --model.d_model=64 --model.n_heads=1 --model.n_layers=2 "
        "--task.vocab_size=8192 --task.seq_len=64 --task.n_pairs=4 --task.test_size=500 "
        "--steps 1500 "
        "--train.batch_size=64 --train.eval_every=250 --train.warmup=50 --lr 3e-3 --seed 0`) "
        "was still at chance after 1,500 steps (test accuracy 0.000, loss 8.33 against "
        "ln 8192 = 9.01; 734 s on one thread beside two other runs), so a grid of its cells "
        "(6 models × 2 widths × 3 seeds × 3 learning rates, each needing many more steps) "
        "does not fit this CPU. Training now runs the 8,192-way head only at the scored "
        "positions, which made that setting's step cheaper but not enough.",
        "Commit 7e6542c: that setting beside the small one, at width 64 for the linear "
        "transformer, "
        "DeltaNet and softmax attention, 3 seeds, one learning rate (1e-2, where a probe of "
        "DeltaNet learned it by step 1,250), ≤ 3,000 steps at batch 64 with early stop at "
        "0.99, and a third check on it (stated before its runs finished). Softmax "
        "attention stayed at chance at 1e-2 (0.007 [0.003–0.019]); it then gained a second "
        "rate, 3e-3, chosen between the two on validation like every grid here: partly "
        "reproduced, 2 of 3 seeds agree (DeltaNet 0.988 at width 16 against at most 0.833, "
        "but 0.001 below RetNet / GLA at width 32, so the every-width check failed on a "
        "tie; Gated DeltaNet 0.719 at width 16; the Figure-2 check failed on attention).",
        "Then, outside this report's runs: softmax attention at 1e-3 in the Figure-2 setting "
        "(`fastweights sweep docs/results/figure2-attention/lr1e-3.toml`): test 0.050 "
        "[0.032–0.056], below 3e-3 in every seed.",
        "Now (commit b6c636f): the same, with the DeltaNet and Gated DeltaNet presets "
        "applying SiLU once to q and k, as fla's layers (see \"The gated models' recall "
        "gap\"; the probes' commands above carry `--model.feature_map=silu`, the preset they "
        "ran with). Still partly reproduced, now 3 of 3 seeds agree: the every-width check "
        "holds, by a hair at width 32 (DeltaNet 0.994, +0.001 over the best gated sum rule, "
        "within the seeds' spread; +0.114 at width 16); Gated DeltaNet 0.671 at width 16 "
        "(its output gate, not the SiLU, is what the one-head setting punishes; see \"The "
        "gated models' recall gap\"); the Figure-2 check still fails on softmax attention "
        "(0.362 [0.154–0.924] at 3e-3). The other cells moved by the code's rounding-level "
        "changes since 7e6542c (e.g. RetNet 0.731 → 0.875 at width 16). 138 + 18 runs, "
        "63 min wall time with 2 processes; softmax attention's 1e-3 then joined its "
        "Figure-2 grid (3 more runs, the others reused).",
    ),
)
