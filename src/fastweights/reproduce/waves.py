"""Karuvally, Sejnowski & Siegelmann (2024): a traveling-wave memory with a linear boundary
(TWM-LBC) learns history-dependent dynamics; its gradient does not vanish over the wave's
window; and an Elman RNN trained on these tasks holds a hidden traveling wave (read in the
Krylov basis [W_in, W_hh W_in, …] of its input, the hidden state's content moves one block
per step).

Setting: ``hds`` (s = 8 vectors of dimension d = 8, horizon 10), systems ``repeat-copy``
and ``signed-selection``; ``twm`` (LBC, 8 columns of width 16), ``rnn`` (tanh, 128 hidden
units = 2·s·d) and ``lstm`` (64 units): the same 128 floats of state each; MSE on the output
phase, batch 64, clip 1.0, two learning rates, one seed, up to 3,000 steps. (Measured before
this setting: with 8 columns of width 8 the TWM stalls near 0.74 sequence accuracy on
signed-selection, and a 64-unit RNN does not learn repeat-copy in 1,500 steps; at 128
units it does in under 1,000.)

Criteria, stated before the run:
(a) learning: the TWM-LBC reaches sequence accuracy ≥ ``SOLVED`` on both systems (best lr);
(b) gradient: for the trained TWM on repeat-copy, ‖∂L_t/∂x_1‖ at the longest lag is at least
    ``NO_VANISH`` times its value at the shortest lag;
(c) hidden wave: in the trained RNN on repeat-copy, the share of a first-input perturbation
    that sits in Krylov block k at step k (the diagonal), averaged over k < s, is ≥
    ``WAVE_SHARE`` (a uniform spread would give 1/s) and above the untrained RNN's share
    (a near-linear RNN puts it on the diagonal by construction). Tested only if that RNN
    learned the task (sequence accuracy ≥ ``SOLVED``).
All three → reproduced; some → partly reproduced; none → not reproduced.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from fastweights import models, tasks
from fastweights.analysis.memory_plots import (
    krylov_basis,
    krylov_wave_map,
    markdown_table,
    plot_gradient_norms,
    plot_histories,
    plot_krylov_wave,
    state_gradient_norms,
    steps_to,
)
from fastweights.reproduce.report import Report, Reproduction
from fastweights.train.config import Experiment
from fastweights.train.sweep import Sweep, execute

SYSTEMS = ["repeat-copy", "signed-selection"]
MODELS = {"twm": {"d_model": 16, "n_columns": 8}, "rnn": {"d_model": 128},
          "lstm": {"d_model": 64}}
S, D, HORIZON = 8, 8, 10
SOLVED = 0.9
NO_VANISH = 0.1
WAVE_SHARE = 0.5


def _budget(quick: bool) -> dict:
    if quick:
        return {"steps": 4, "eval_every": 2, "lrs": [1e-3], "test_size": 64, "probe": 4}
    return {"steps": 3000, "eval_every": 250, "lrs": [1e-3, 3e-3], "test_size": 1000,
            "probe": 64}


def _load(run_dir: Path) -> tuple[torch.nn.Module, tasks.Task]:
    cfg = json.loads((run_dir / "config.json").read_text())
    task = tasks.build(cfg["task"], **cfg["task_config"])
    model = models.build(cfg["model"], **Experiment.model_sizes(task), **cfg["model_config"])
    model.load_state_dict(torch.load(run_dir / "best.pt", weights_only=False)["model"])
    return model, task


def _in_span(rnn: torch.nn.Module, x: torch.Tensor, eps: float = 1e-3) -> float:
    """The share of the first-input perturbation's norm ‖Δh_t‖ that lies in the span of the
    Krylov basis (mean over the first s steps and the batch): the basis has s·d columns for
    a wider hidden state, so the projection reads only that part."""
    B = krylov_basis(rnn.cell.rec.detach(), rnn.cell.inp.weight[:, :D].detach(), S)
    with torch.no_grad():
        base = rnn(x, return_intermediates=True)[2].h
        moved = x.clone()
        moved[:, 0, :D] = moved[:, 0, :D] * (1 + eps)
        dh = (rnn(moved, return_intermediates=True)[2].h - base)[:, :S] / eps
        inside = dh @ (B @ torch.linalg.pinv(B)).T
        return float((inside.norm(dim=-1) / dh.norm(dim=-1).clamp_min(1e-12)).mean())


def run(quick: bool, workdir: Path, workers: int) -> Report:
    b = _budget(quick)
    out = workdir / "sweep"
    reused = sum(1 for _ in out.glob("*/*/result.json"))
    results = []
    for system in SYSTEMS:
        sweep = Sweep(models=list(MODELS), tasks=["hds"], lrs=b["lrs"], seeds=[0],
                      model={m: dict(c) for m, c in MODELS.items()},
                      task={"dim": D, "n_vectors": S, "horizon": HORIZON, "system": system,
                            "test_size": b["test_size"]},
                      train={"steps": b["steps"], "batch_size": 64, "eval_every": b["eval_every"],
                             "warmup": 100 if not quick else 1, "target": 0.999},
                      workers=workers, out=str(out / system))
        results += [r | {"system": system} for r in execute(sweep)]
    metric = "test/sequence_accuracy"

    best: dict[tuple[str, str], dict] = {}
    for r in results:
        key = (r["system"], r["model"])
        if key not in best or r["best"] > best[key]["best"]:
            best[key] = r
    rows = [[r["system"], r["model"], f"{r['lr']:g}", r["params"], r["state_size"], r["steps"],
             r["best"], steps_to(r["history"], metric, SOLVED)] for r in results]
    learned = all(best[(s, "twm")]["best"] >= SOLVED for s in SYSTEMS)

    # the state's gradient vs lag and the RNN's Krylov-basis picture, from the best checkpoints
    grads = {}
    for m in MODELS:
        model, task = _load(out / "repeat-copy" / best[("repeat-copy", m)]["run"])
        x, _ = task.test_set()
        grads[f"{m} (trained)"] = state_gradient_norms(model, x[:b['probe']])
        if m != "lstm":
            torch.manual_seed(0)
            fresh = models.build(m, **Experiment.model_sizes(task), **MODELS[m])
            grads[f"{m} (init)"] = state_gradient_norms(fresh, x[:b['probe']])
    lags = list(range(len(grads["twm (trained)"])))
    ratio = {k: min(g) / max(g[0], 1e-30) for k, g in grads.items()}
    no_vanish = ratio["twm (trained)"] >= NO_VANISH
    grad_fig = plot_gradient_norms(grads, lags, workdir / "waves_gradient_norms.png",
                                   title="hds repeat-copy: state gradient w.r.t. the first input")

    rnn, task = _load(out / "repeat-copy" / best[("repeat-copy", "rnn")]["run"])
    x, _ = task.test_set()
    heat = krylov_wave_map(rnn, x[:b['probe']], S, D)
    diag = float(torch.stack([heat[k, k] for k in range(S)]).mean())
    cond = float(torch.linalg.cond(krylov_basis(rnn.cell.rec.detach(),
                                                rnn.cell.inp.weight[:, :D].detach(), S)))
    span = _in_span(rnn, x[:b['probe']])
    torch.manual_seed(0)
    rnn0 = models.build("rnn", **Experiment.model_sizes(task), **MODELS["rnn"])
    heat0 = krylov_wave_map(rnn0, x[:b['probe']], S, D)
    diag0 = float(torch.stack([heat0[k, k] for k in range(S)]).mean())
    span0 = _in_span(rnn0, x[:b['probe']])
    rnn_learned = best[("repeat-copy", "rnn")]["best"] >= SOLVED
    wave = diag >= WAVE_SHARE and diag > diag0
    heat_fig = plot_krylov_wave(heat, workdir / "waves_rnn_krylov.png",
                                title="trained Elman RNN, repeat-copy: x_1 in the Krylov basis")
    heat0_fig = plot_krylov_wave(heat0, workdir / "waves_rnn_krylov_init.png",
                                 title="untrained Elman RNN (same seed): x_1 in the Krylov basis")
    curves = plot_histories(
        {f"{s} {m}": best[(s, m)]["history"] for s in SYSTEMS for m in MODELS}, metric,
        workdir / "waves_learning_curves.png", title="hds: best lr per model and system",
        ylabel="test sequence accuracy", threshold=SOLVED)

    # (c) is a claim about RNNs that learned the task: untested when ours did not
    passed = [learned, no_vanish] + ([wave] if rnn_learned else [])
    verdict = ("reproduced" if len(passed) == 3 and all(passed) else
               "partly reproduced" if any(passed) else "not reproduced")
    c_result = ("pass" if wave else "fail") if rnn_learned else (
        f"untested: the RNN reached only {best[('repeat-copy', 'rnn')]['best']:.3f} sequence "
        f"accuracy")
    twm_acc = ", ".join(f"{s} {best[(s, 'twm')]['best']:.3f}" for s in SYSTEMS)
    summary = (f"(a) TWM-LBC sequence accuracy {twm_acc} ({'pass' if learned else 'fail'}); "
               f"(b) the trained TWM's state gradient w.r.t. x_1 stays ≥ "
               f"{ratio['twm (trained)']:.2g}× its lag-0 value over lags 0–{lags[-1]} (RNN "
               f"{ratio['rnn (trained)']:.2g}×, LSTM {ratio['lstm (trained)']:.2g}×; "
               f"{'pass' if no_vanish else 'fail'}); (c) the trained RNN's perturbation sits "
               f"on the Krylov diagonal with share {diag:.2f} (untrained {diag0:.2f}, uniform "
               f"1/{S} = {1 / S:.2f}; {c_result}).")
    grad_rows = [[k, f"{g[0]:.3g}", f"{g[S - 1]:.3g}", f"{g[-1]:.3g}", f"{ratio[k]:.3g}"]
                 for k, g in grads.items()]

    body = f"""## Setting and budget

Task `hds`: s = {S} random ±1 vectors of dimension d = {D}, then a horizon of {HORIZON} steps
with a go flag, during which the model outputs the system's next vector; MSE on the output
phase; main metric: sequence accuracy (every sign of the horizon right), on a fixed test set
of {b['test_size']} sequences. Systems: `repeat-copy` (y(t) = y(t−s)) and `signed-selection`
(a fixed signed selection of components of the previous s vectors). Models: `twm` (linear
boundary, {S} columns of width {MODELS['twm']['d_model']}), `rnn` (tanh Elman,
{MODELS['rnn']['d_model']} = 2·s·d hidden units) and `lstm` ({MODELS['lstm']['d_model']} units),
each with {MODELS['twm']['d_model'] * S} floats of state. AdamW with warm-up and cosine decay,
batch 64, clip 1.0, learning rates {', '.join(map(str, b['lrs']))}, seed 0, up to
{b['steps']} steps (stop at sequence accuracy ≥ 0.999).

The paper's code trains with Adam 1e-3 and a curriculum of horizons 10 → 100 over many more
steps; the runner has no curriculum, so the horizon is fixed at {HORIZON} (the wave analysis
needs only the first s steps after x_1, and the gradient probe runs over s + horizon steps)
and the budget is CPU-sized, one seed. The sizes were chosen by single runs before this
setting was fixed: with columns of width 8 (the paper's d) the TWM-LBC stalled near 0.74
sequence accuracy on signed-selection (3,000–4,000 steps, lr 3e-3 or 1e-2: a few sign errors
at the first output step, which the boundary feeds forward), and an RNN of s·d = 64 units
learned nothing on repeat-copy in 1,500 steps; 16-wide columns and 128 units learn both in
under 1,000 steps. With 128 units the Krylov basis (s·d = {S * D} columns) no longer spans
the hidden space; the share of the perturbation inside its span is given below.

**Criteria (stated before the run):** (a) TWM-LBC sequence accuracy ≥ {SOLVED} on both
systems; (b) for the trained TWM on repeat-copy, ‖∂state_t/∂x_1‖ at every lag ≥
{NO_VANISH}× its lag-0 value; (c) the trained RNN's first-input perturbation, read in the
Krylov basis [W_in, W_hh W_in, …, W_hh^(s−1) W_in], puts a share ≥ {WAVE_SHARE} of its norm in
block k at step k (mean over k < s), and more than the same RNN untrained does (a
near-linear RNN puts it on the diagonal by construction) — tested only if that RNN learned
the task (sequence accuracy ≥ {SOLVED}). All three: reproduced; some: partly.

## Results

{markdown_table(["system", "model", "lr", "params", "state", "steps run", "best seq acc",
                 f"steps to {SOLVED}"], rows)}

![learning curves]({curves.name})

Gradient of the recurrent state (TWM: the whole substrate; RNN: h; LSTM: h and c) at each
step with respect to the first input vector, ‖∂state_t/∂x_1‖_F, mean over {b['probe']} test
sequences, for the best repeat-copy checkpoints and for the untrained TWM and RNN; "min
ratio" is the smallest value over all lags divided by the lag-0 value:

{markdown_table(["model", "lag 0", f"lag {S - 1}", f"lag {lags[-1]}", "min ratio"],
                grad_rows)}

![gradient norm vs lag]({grad_fig.name})

The trained RNN's hidden state, perturbed through x_1 and projected on the Krylov basis
(each column sums to 1; a diagonal stripe is a traveling wave). Mean diagonal share over the
first {S} steps: {diag:.3f} (untrained, same seed: {diag0:.3f}); share of ‖Δh_t‖ inside the
basis's span over those steps: {span:.3f} (untrained {span0:.3f}); condition number of the
basis: {cond:.3g}. The RNN's best repeat-copy sequence accuracy:
{best[('repeat-copy', 'rnn')]['best']:.3f}.

![Krylov-basis projection]({heat_fig.name})

![Krylov-basis projection, untrained]({heat0_fig.name})

Note: for a linear RNN with a full-rank Krylov basis the projection is a shift by
construction; the test here is whether the trained *nonlinear* RNN's hidden state behaves
that way (its perturbation stays on the diagonal).

{reused} of the {len(results)} training runs were finished by an earlier invocation and
reused (the wall time above covers this invocation only).

## What was seen

{summary}
"""
    return Report(verdict, summary, body, [curves, grad_fig, heat_fig, heat0_fig])


REPRODUCTION = Reproduction(
    name="waves",
    paper="Karuvally, Sejnowski & Siegelmann 2024, ICML, arXiv 2402.10163",
    claim="a traveling-wave memory with a linear boundary learns history-dependent dynamics; "
          "its gradient does not vanish over the wave's window; Elman RNNs trained on these "
          "tasks hold hidden traveling waves",
    run=run,
)
