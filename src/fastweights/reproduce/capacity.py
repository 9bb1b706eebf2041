"""Capacity of fast-weight memories (Schlag, Irie & Schmidhuber 2021, section 6.1).

One fast-weight layer (d_model = 16, one head, so ELU+1 keys have d_dot = 16 and DPFP(ν=2)
keys d_dot = 2·2·16 = 64) stores S key–value pairs of the ``capacity`` task and is queried on
every key. Setting 1: each key written once; the sum rule should fail once S exceeds d_dot,
DPFP should move the knee to larger S, softmax attention should not fail. Setting 2: keys
recur with new values; the delta rule should track the latest value, the sum rule should
not. Each cell trains at lr 1e-2; a cell below the success threshold is retrained at 3e-3
(the learning-rate sweep before any failure is counted) and the better run is reported.
"""

from __future__ import annotations

from pathlib import Path

from fastweights.analysis.fwp_plots import plot_capacity_vs_keys
from fastweights.reproduce._cells import best_by, run_cells
from fastweights.reproduce.report import Report, Reproduction
from fastweights.train.sweep import Sweep

D = 16  # d_model = head dim = ELU+1 key dimension
OK = 0.9  # accuracy counted as "stores the pairs"
FAIL = 0.5  # accuracy counted as "fails"
LRS = (1e-2, 3e-3)  # first lr, then the rescue lr for cells below OK
LAYER = {"d_model": D, "n_heads": 1, "n_layers": 1}
# (label, model, model config, d_dot or None for softmax)
SETTING1 = [
    ("sum rule, ELU+1", "linear-transformer", LAYER | {"feature_map": "elu+1", "conv_size": 2},
     D),
    ("sum rule, DPFP ν=2", "linear-transformer",
     LAYER | {"feature_map": "dpfp", "dpfp_nu": 2, "conv_size": 2}, 4 * D),
    # two layers: without a short convolution, one attention layer cannot bind a value token
    # to the key token before it (an induction head needs two)
    ("softmax attention (2 layers)", "transformer", LAYER | {"n_layers": 2}, None),
]
SETTING2 = [
    ("sum rule, ELU+1", "linear-transformer", LAYER | {"feature_map": "elu+1", "conv_size": 2},
     D),
    ("delta rule", "deltanet", LAYER | {"conv_size": 2}, D),
]


def _sweep(model: str, cfg: dict, S: int, replace: bool, lr: float, quick: bool,
           out: Path) -> Sweep:
    steps = 10 if quick else (600 if replace else 500)
    return Sweep(models=[model], tasks=["capacity"], lrs=[lr], seeds=[0], model={model: cfg},
                 task={"n_keys": S, "n_values": 16, "n_queries": None, "replace": replace,
                       "test_size": 100 if quick else 500},
                 train={"steps": steps, "batch_size": 32, "warmup": 50,
                        "eval_every": 10 if quick else 100, "target": 0.99, "threads": 1},
                 workers=1, out=str(out))


def _table(rows: list[dict], sizes: list[int]) -> str:
    labels = list(dict.fromkeys(r["label"] for r in rows))
    lines = ["| memory | d_dot | " + " | ".join(f"S={s}" for s in sizes) + " |",
             "|---|---|" + "---|" * len(sizes)]
    for label in labels:
        cells = {r["S"]: r for r in rows if r["label"] == label}
        d = next(iter(cells.values()))["d_dot"]
        lines.append(f"| {label} | {d or '— (grows)'} | " + " | ".join(
            f"{cells[s]['accuracy']:.3f} / {cells[s]['loss']:.3f} (lr {cells[s]['lr']:g}, "
            f"{cells[s]['steps']} st)" for s in sizes) + " |")
    return "\n".join(lines)


def _capacity(rows: list[dict], label: str) -> int:
    """Largest S at which ``label`` reaches OK accuracy (0 if none)."""
    return max((r["S"] for r in rows if r["label"] == label and r["accuracy"] >= OK), default=0)


def run(quick: bool, workdir: Path, workers: int) -> Report:
    sizes1 = [4] if quick else [8, 16, 32]
    sizes2 = [4] if quick else [4, 8]
    # quick mode: one cell per setting, to exercise the code path in seconds
    setting1, setting2 = (SETTING1[:1], SETTING2[1:]) if quick else (SETTING1, SETTING2)
    specs = {f"s1-{m}-{c.get('feature_map', 'softmax')}-S{S}": (lab, m, c, d, S, False)
             for lab, m, c, d in setting1 for S in sizes1}
    specs |= {f"s2-{m}-S{S}": (lab, m, c, d, S, True) for lab, m, c, d in setting2
              for S in sizes2}
    results = run_cells({name: _sweep(m, c, S, rep, LRS[0], quick, workdir / name)
                         for name, (_, m, c, _, S, rep) in specs.items()}, workers)
    low = [name for name, rs in results.items() if rs[0]["final"]["test/accuracy"] < OK]
    if low and not quick:
        print(f"capacity: {len(low)} cell(s) below accuracy {OK} at lr {LRS[0]:g}; "
              f"retrying them at lr {LRS[1]:g}", flush=True)
        retry = run_cells({name: _sweep(*specs[name][1:3], *specs[name][4:6], LRS[1], quick,
                                        workdir / name) for name in low}, workers)
        for name, rs in retry.items():
            results[name] = results[name] + rs

    rows = {1: [], 2: []}
    for name, (label, _, _, d, S, rep) in specs.items():
        r = best_by(results[name], "test/accuracy")
        rows[2 if rep else 1].append({"label": label, "S": S, "d_dot": d, "lr": r["lr"],
                                      "steps": r["steps"],
                                      "accuracy": r["final"]["test/accuracy"],
                                      "loss": r["final"]["test/loss"]})
    fig1 = plot_capacity_vs_keys(rows[1], workdir / "capacity_setting1.png",
                                 "setting 1: each key written once")
    fig2 = plot_capacity_vs_keys(rows[2], workdir / "capacity_setting2.png",
                                 "setting 2: keys recur, target the latest value")

    def acc(setting: int, label: str, S: int) -> float:
        return next((r["accuracy"] for r in rows[setting] if r["label"] == label
                     and r["S"] == S), float("nan"))

    elu, dpfp, soft = (s[0] for s in SETTING1)
    checks = []
    small = [S for S in sizes1 if S < D]
    large = [S for S in sizes1 if S >= 2 * D]
    c1 = (bool(small) and all(acc(1, elu, S) >= OK for S in small)
          and bool(large) and all(acc(1, elu, S) < FAIL for S in large))
    checks.append((f"sum rule (ELU+1, d_dot={D}) stores S < d_dot (accuracy ≥ {OK}) and fails "
                   f"at S ≥ 2·d_dot (accuracy < {FAIL})", c1))
    if not quick:
        c2 = _capacity(rows[1], dpfp) > _capacity(rows[1], elu)
        checks.append((f"DPFP ν=2 stores more pairs than ELU+1 (largest S at accuracy ≥ {OK}: "
                       f"{_capacity(rows[1], dpfp)} vs {_capacity(rows[1], elu)})", c2))
    c3 = all(acc(1, soft, S) >= OK for S in sizes1)
    checks.append((f"softmax attention stores every S tried (accuracy ≥ {OK})", c3))
    sum2, delta2 = (s[0] for s in SETTING2)
    c4 = all(acc(2, delta2, S) >= OK and acc(2, sum2, S) <= acc(2, delta2, S) - 0.2
             for S in sizes2)
    checks.append((f"setting 2: delta rule tracks the latest value (accuracy ≥ {OK}) and the sum "
                   f"rule stays ≥ 0.2 below it, at every S", c4))
    passed = sum(ok for _, ok in checks)
    verdict = ("reproduced" if passed == len(checks) else
               "partly reproduced" if passed >= 2 else "not reproduced")
    seen = "; ".join(f"{'✓' if ok else '✗'} {text}" for text, ok in checks)
    summary = (f"{passed}/{len(checks)} pre-stated checks hold. ELU+1 sum rule accuracy "
               + ", ".join(f"S={S}: {acc(1, elu, S):.2f}" for S in sizes1)
               + "; setting 2 delta vs sum: "
               + ", ".join(f"S={S}: {acc(2, delta2, S):.2f} vs {acc(2, sum2, S):.2f}"
                           for S in sizes2) + ".")
    steps = "10" if quick else "500 (setting 2: 600)"
    setting = "\n".join([
        f"| memory | one fast-weight layer, d_key = 64 | one layer, d_model = d_head = {D}, one "
        "head; short conv (size 2), so a value token's key is the token before it; MLP block |",
        f"| feature maps | linear, ELU+1, FAVOR+, DPFP(ν = 1…3) | ELU+1 (d_dot = {D}), DPFP ν=2 "
        f"(d_dot = {4 * D}), softmax attention (two layers: with no short convolution, one "
        "attention layer cannot bind a value token to the key before it) |",
        f"| S (setting 1) | 20 … 600 | {', '.join(map(str, sizes1))} |",
        f"| S (setting 2, 2S writes) | 20 … 200 | {', '.join(map(str, sizes2))} |",
        "| inputs | random key/value vectors | token ids: keys 0…S−1, 16 values; every key "
        "queried once per sequence |",
        f"| training | ½‖onehot(v) − ŷ‖², Adam 1e-3, batch 32, until loss ≤ 0.001 | "
        f"cross-entropy, AdamW lr {LRS[0]:g} (cells below {OK} retried at {LRS[1]:g}), batch "
        f"32, ≤ {steps} steps, stop at accuracy ≥ 0.99, one seed |"])
    body = f"""
## Setting and budget

| | paper (Schlag et al. 2021) | here |
|---|---|---|
{setting}

Our budget is far below the paper's (hundreds of steps, not training to convergence), so a
cell that did not reach {OK} may be under-trained rather than over capacity; the learning
rate retry is the guard against the most common cause.

**Pre-stated criterion.** {"; ".join(text for text, _ in checks)}. All hold: reproduced;
at least two: partly reproduced; else not reproduced.

## Results

Test accuracy / test loss (cross-entropy) per cell, best of the learning rates tried.

Setting 1 (each key once):

{_table(rows[1], sizes1)}

![setting 1](capacity_setting1.png)

Setting 2 (keys recur; the target is the latest value):

{_table(rows[2], sizes2)}

![setting 2](capacity_setting2.png)

## What was seen

{seen}.
"""
    return Report(verdict, summary, body, [fig1, fig2])


REPRODUCTION = Reproduction(
    name="capacity",
    paper="Schlag, Irie & Schmidhuber 2021",
    claim="sum-rule fast-weight memory fails once the number of stored pairs S exceeds the "
          "feature dimension d_dot; DPFP raises d_dot and the capacity with it; softmax attention "
          "does not fail; when keys recur with new values the delta rule tracks the latest value "
          "and the sum rule cannot.",
    run=run,
)
