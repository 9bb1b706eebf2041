"""Recall vs state size on multi-query associative recall (Arora et al. 2023, Zoology; Yang
et al. 2024, DeltaNet).

Two-layer models of small widths learn MQAR; each trained model is placed by its recurrent
state (floats per sequence: the fast weights, plus the short-convolution buffer; for softmax
attention the KV cache of the whole sequence, 2 · n_layers · d_model floats per token times the
task's length). The claim: at a given width and state size the
delta rule recalls more than the sum rule (linear transformer) and the gated sum rules
(RetNet, GLA); softmax attention recalls everything, at a much larger state.
"""

from __future__ import annotations

from pathlib import Path

from fastweights.analysis.fwp_plots import plot_recall_vs_state_size
from fastweights.reproduce._cells import best_by, run_cells
from fastweights.reproduce.report import Report, Reproduction
from fastweights.train.sweep import Sweep

LRS = (1e-2, 3e-3)  # first lr; the second for cells below OK
OK = 0.9
MARGIN = 0.05
SUM_MODELS = ("linear-transformer", "retnet", "gla")
DELTA_MODELS = ("deltanet", "gated-deltanet")
TASK = {"vocab_size": 48, "seq_len": 32, "n_pairs": 6}
STEPS = 500
# Softmax attention learns MQAR by a late, abrupt jump (an induction-style circuit): at width
# 32, batch 32 and lr 1e-2 it sat at 0.18 after 500 steps and reached 0.9998 after 1000.
SOFTMAX_STEPS = 1000


def _steps(model: str, quick: bool) -> int:
    return 10 if quick else SOFTMAX_STEPS if model == "transformer" else STEPS


def _sweep(model: str, width: int, lr: float, quick: bool, out: Path) -> Sweep:
    return Sweep(models=[model], tasks=["mqar"], lrs=[lr], seeds=[0],
                 model={"d_model": width, "n_heads": 1, "n_layers": 2},
                 task=TASK | {"test_size": 50 if quick else 300},
                 train={"steps": _steps(model, quick), "batch_size": 32, "warmup": 30,
                        "eval_every": 10 if quick else 100, "target": 0.99, "threads": 1},
                 workers=1, out=str(out))


def run(quick: bool, workdir: Path, workers: int) -> Report:
    widths = [16] if quick else [16, 32]
    models = ("linear-transformer", "deltanet") if quick else (*SUM_MODELS, *DELTA_MODELS)
    specs = {f"{m}-d{w}": (m, w) for m in models for w in widths}
    specs |= {f"transformer-d{w}": ("transformer", w) for w in widths}
    results = run_cells({n: _sweep(m, w, LRS[0], quick, workdir / n)
                         for n, (m, w) in specs.items()}, workers)
    low = [n for n, rs in results.items() if rs[0]["final"]["test/accuracy"] < OK]
    if low and not quick:
        print(f"recall-vs-state: {len(low)} cell(s) below {OK}; retrying at lr {LRS[1]:g}",
              flush=True)
        more = run_cells({n: _sweep(*specs[n], LRS[1], quick, workdir / n) for n in low},
                         workers)
        for n, rs in more.items():
            results[n] = results[n] + rs

    rows = []
    for n, (m, w) in specs.items():
        r = best_by(results[n], "test/accuracy")
        # the KV cache at the task's length: state_size is then the cost per token
        state = r["state_size"] * (TASK["seq_len"] if r["state_grows"] else 1)
        rows.append({"model": m, "d_model": w, "state_size": state, "params": r["params"],
                     "lr": r["lr"], "steps": r["steps"], "accuracy": r["final"]["test/accuracy"],
                     "tried": ", ".join(f"{x['lr']:g}" for x in results[n])})
    fig = plot_recall_vs_state_size(rows, workdir / "recall-vs-state.png",
                                    f"MQAR ({TASK['n_pairs']} pairs, length {TASK['seq_len']}, "
                                    f"vocabulary {TASK['vocab_size']})")

    def acc(model: str, width: int) -> float:
        return next((r["accuracy"] for r in rows if r["model"] == model
                     and r["d_model"] == width), float("nan"))

    gaps = {w: acc("deltanet", w) - max(acc(m, w) for m in SUM_MODELS if m in models)
            for w in widths}
    c1 = all(g >= 0 for g in gaps.values()) and any(g >= MARGIN for g in gaps.values())
    softs = [r for r in rows if r["model"] == "transformer"]
    soft = max(softs, key=lambda r: (r["accuracy"], -r["d_model"]))
    recurrent_max = max(r["state_size"] for r in rows if r["model"] != "transformer"
                        and r["d_model"] == soft["d_model"])
    ratio = soft["state_size"] / recurrent_max
    c2 = soft["accuracy"] >= 0.95 and soft["state_size"] > recurrent_max
    gap_text = ", ".join(f"d={w}: {g:+.3f}" for w, g in gaps.items())
    soft_text = ", ".join(f"d={r['d_model']}: {r['accuracy']:.3f} with {r['state_size']} floats"
                          for r in softs)
    checks = [(f"at every width, DeltaNet's accuracy ≥ the best sum / gated-sum model's "
               f"({', '.join(SUM_MODELS)}), and ≥ {MARGIN} above it at one width at least "
               f"(seen, DeltaNet minus best of them: {gap_text})", c1),
              (f"softmax attention reaches accuracy ≥ 0.95 at some width, with a KV cache "
               f"larger than the state of every recurrent model of that width (seen: "
               f"{soft_text}; at d={soft['d_model']} the recurrent models hold at most "
               f"{recurrent_max} floats, so the cache is {ratio:.1f}× the largest of them)", c2)]
    verdict = ("reproduced" if c1 and c2 else "partly reproduced" if c1 or c2
               else "not reproduced")
    summary = ("MQAR accuracy at width " + "; ".join(
        f"{w}: " + ", ".join(f"{m} {acc(m, w):.2f}" for m in models) for w in widths)
        + "; softmax attention " + ", ".join(
            f"{r['accuracy']:.2f} at width {r['d_model']} ({r['state_size']} floats)"
            for r in softs) + ".")
    table = ["| model | d_model | state (floats) | params | lrs tried | best lr | steps | "
             "accuracy |", "|---|---|---|---|---|---|---|---|"]
    table += [f"| {r['model']} | {r['d_model']} | {r['state_size']} | {r['params']} | "
              f"{r['tried']} | {r['lr']:g} | {r['steps']} | {r['accuracy']:.3f} |"
              for r in sorted(rows, key=lambda r: (r["d_model"], r["state_size"]))]
    steps = _steps("deltanet", quick)
    setting = "\n".join([
        "| task | MQAR, vocabulary 8192, length 64–512, up to 64 pairs | MQAR, vocabulary "
        f"{TASK['vocab_size']}, length {TASK['seq_len']}, {TASK['n_pairs']} pairs |",
        "| models | 2 layers, widths 64–512, many mixers | 2 layers, one head, widths "
        f"{', '.join(map(str, widths))}, softmax attention at the same widths |",
        "| training | tens of epochs, best of an lr sweep | ≤ "
        f"{steps} steps (softmax attention ≤ {_steps('transformer', quick)}), batch 32, lr "
        f"{LRS[0]:g}, cells below {OK} retried at {LRS[1]:g}, "
        "stop at accuracy ≥ 0.99, one seed |"])
    body = f"""
## Setting and budget

| | Zoology (Arora et al. 2023) | here |
|---|---|---|
{setting}

State size counts floats per sequence: fast weights of both layers plus the short
convolution's buffer (deltanet, gated-deltanet and the linear transformer use a size-4
convolution; RetNet and GLA none, as in their presets); the transformer's KV cache is counted
over the whole sequence: 2 · n_layers · d_model floats per token × {TASK['seq_len']} tokens. It
grows linearly with length while the recurrent states do not, so at this short length the
gap in state size is far smaller than at Zoology's lengths (up to 512). Softmax attention gets
{_steps('transformer', quick)} steps against the recurrent models' {steps}, because it learns
MQAR by a late jump in accuracy; this is therefore not a same-budget comparison. Our budget is
a few hundred steps, far below Zoology's, so low accuracies may partly be under-training.

**Pre-stated criterion.** {"; ".join(t for t, _ in checks)}. Both hold: reproduced; one:
partly reproduced; none: not reproduced.

## Results

{chr(10).join(table)}

![recall vs state](recall-vs-state.png)

## What was seen

{"; ".join(("✓ " if ok else "✗ ") + t for t, ok in checks)}.
"""
    return Report(verdict, summary, body, [fig])


REPRODUCTION = Reproduction(
    name="recall-vs-state",
    paper="Arora et al. 2023 (Zoology); Yang et al. 2024 (DeltaNet)",
    claim="on multi-query associative recall, the delta rule recalls more per float of state "
          "than the sum rule and the gated sum rules; softmax attention recalls everything at a "
          "much larger state.",
    run=run,
)
