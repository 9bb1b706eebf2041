"""Karuvally, Sejnowski & Siegelmann (2024): a traveling-wave memory with a linear boundary
(TWM-LBC) learns history-dependent dynamics; its gradient does not vanish over the wave's
window; and an Elman RNN trained on these tasks holds a hidden traveling wave (read in the
Krylov basis [W_in, W_hh W_in, …] of its input, the hidden state's content moves one block
per step).

Setting: ``hds`` (s = 8 vectors of dimension d = 8), systems ``repeat-copy`` and
``signed-selection``; ``twm`` (LBC, 8 columns of width 16), ``rnn`` (tanh, 128 hidden units
= 2·s·d) and ``lstm`` (64 units): the same 128 floats of state each; MSE on the output
phase, batch 64, clip 1.0, the same budget, learning-rate grid and seeds for every model.

Criteria, stated before the run, on medians over seeds at each model's learning rate chosen
on validation:
(a) learning: the TWM-LBC reaches sequence accuracy ≥ ``SOLVED`` on both systems;
(b) gradient: for the trained TWM on repeat-copy, ‖∂state_t/∂x_1‖ at every lag is at least
    ``NO_VANISH`` times its lag-0 value, **and** this smallest ratio is higher than the
    trained RNN's and the trained LSTM's (the baselines also keep ≥ ``NO_VANISH``, so the
    threshold alone would not tell the TWM apart);
(c) hidden wave: in the trained RNN on repeat-copy, the share of a first-input perturbation
    that sits in Krylov block k at step k (the diagonal), averaged over k < s, is ≥
    ``WAVE_SHARE`` (a uniform spread would give 1/s) and above the untrained RNN's share.
    Untested unless that RNN learned the task (sequence accuracy ≥ ``SOLVED``).
All three → reproduced; some → partly reproduced; none → not reproduced.
"""

from __future__ import annotations

import torch

from fastweights.analysis.memory_plots import (
    krylov_basis,
    krylov_wave_map,
    markdown_table,
    plot_krylov_wave,
    state_gradient_norms,
)
from fastweights.reproduce.budget import Budget, Context
from fastweights.reproduce.criterion import Check, judge, measure
from fastweights.reproduce.grid import Cell, Run, run_grid
from fastweights.reproduce.plots import plot_curves, plot_lines
from fastweights.reproduce.report import Report, Reproduction, grid_table, paper_vs_here
from fastweights.reproduce.stats import Spread

SYSTEMS = ["repeat-copy", "signed-selection"]
MODELS = {"twm": {"d_model": 16, "n_columns": 8}, "rnn": {"d_model": 128},
          "lstm": {"d_model": 64}}
S, D = 8, 8
SOLVED = 0.9
NO_VANISH = 0.1
WAVE_SHARE = 0.5
HORIZON = {"quick": 10, "cpu": 10, "paper": 100}
TEST_SIZE = {"quick": 64, "cpu": 1000, "paper": 1000}
PROBE = {"quick": 4, "cpu": 64, "paper": 64}
BUDGETS = {
    "quick": Budget(steps=4, batch_size=64, eval_every=2, lrs=(1e-3,), seeds=(0,), warmup=1,
                    target=0.999, val_size=64),
    "cpu": Budget(steps=3000, batch_size=64, eval_every=250, lrs=(1e-3, 3e-3, 1e-2),
                  seeds=(0, 1, 2, 3, 4), warmup=100, target=0.999),
    "paper": Budget(steps=20_000, batch_size=64, eval_every=1000, lrs=(3e-4, 1e-3, 3e-3),
                    seeds=(0, 1, 2), warmup=100, target=0.999,
                    curriculum={"horizon": list(range(10, 101, 10))}),
}


def _diagonal(rnn: torch.nn.Module, x: torch.Tensor) -> tuple[float, torch.Tensor]:
    heat = krylov_wave_map(rnn, x, S, D)
    return float(torch.stack([heat[k, k] for k in range(S)]).mean()), heat


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


def run(ctx: Context) -> Report:
    b, probe = BUDGETS[ctx.scale], PROBE[ctx.scale]
    cells = [Cell(f"{s}/{m}", m, "hds", b, dict(c),
                  {"dim": D, "n_vectors": S, "horizon": HORIZON[ctx.scale], "system": s,
                   "test_size": TEST_SIZE[ctx.scale]})
             for s in SYSTEMS for m, c in MODELS.items()]
    results = run_grid(cells, ctx)
    grads: dict[str, dict[int, list[float]]] = {}  # "model (trained|init)" -> seed -> norms
    heats: dict[str, dict[int, torch.Tensor]] = {"trained": {}, "init": {}}

    def probe_run(run: Run) -> dict[str, float]:
        model_name = run.result["model"]
        out = {"acc": run.test()}
        if not run.cell.startswith("repeat-copy/"):
            return out
        model, task = run.load()
        x = task.test_set()[0][:probe]
        fresh = run.untrained()
        for label, net in (("trained", model), ("init", fresh)):
            g = state_gradient_norms(net, x)
            grads.setdefault(f"{model_name} ({label})", {})[run.seed] = g
            out[f"ratio_{label}"] = min(g) / max(g[0], 1e-30)
        if model_name == "rnn":
            out["diag"], heats["trained"][run.seed] = _diagonal(model, x)
            out["diag0"], heats["init"][run.seed] = _diagonal(fresh, x)
            out["span"], out["span0"] = _in_span(model, x), _in_span(fresh, x)
            out["cond"] = float(torch.linalg.cond(krylov_basis(
                model.cell.rec.detach(), model.cell.inp.weight[:, :D].detach(), S)))
        return out

    m = measure(results, probe_run)
    rc = {k: f"repeat-copy/{k}" for k in MODELS}
    checks = [
        Check(f"TWM-LBC sequence accuracy ≥ {SOLVED} on both systems",
              lambda v: all(v(f"{s}/twm", "acc") >= SOLVED for s in SYSTEMS),
              lambda v: ", ".join(f"{s} {v(f'{s}/twm', 'acc'):.3f}" for s in SYSTEMS)),
        Check(f"the trained TWM's state gradient w.r.t. x_1 keeps ≥ {NO_VANISH}× its lag-0 "
              f"value at every lag, and its smallest ratio is above the trained RNN's and "
              f"LSTM's",
              lambda v: v(rc["twm"], "ratio_trained") >= NO_VANISH and all(
                  v(rc["twm"], "ratio_trained") > v(rc[o], "ratio_trained")
                  for o in ("rnn", "lstm")),
              lambda v: ", ".join(f"{k} {v(rc[k], 'ratio_trained'):.3g}" for k in MODELS)),
        Check(f"the trained RNN's perturbation puts a share ≥ {WAVE_SHARE} on the Krylov "
              f"diagonal, above the untrained RNN's (tested only if the RNN reached "
              f"sequence accuracy ≥ {SOLVED} on repeat-copy)",
              lambda v: (v(rc["rnn"], "diag") >= WAVE_SHARE
                         and v(rc["rnn"], "diag") > v(rc["rnn"], "diag0"))
              if v(rc["rnn"], "acc") >= SOLVED else None,
              lambda v: f"{v(rc['rnn'], 'diag'):.2f} vs {v(rc['rnn'], 'diag0'):.2f} untrained; "
                        f"RNN accuracy {v(rc['rnn'], 'acc'):.3f}"),
    ]
    verdict = judge(checks, m)
    med = lambda cell, q: Spread.of(m[cell][q].values())  # noqa: E731
    summary = (", ".join(f"{k} on {s}: {med(f'{s}/{k}', 'acc')}" for s in SYSTEMS
                         for k in MODELS) + f" (test sequence accuracy, median [min–max] over "
               f"{len(b.seeds)} seed(s)); smallest gradient ratio, trained: " + ", ".join(
                   f"{k} {med(rc[k], 'ratio_trained'):.3g}" for k in MODELS)
               + f"; RNN Krylov-diagonal share {med(rc['rnn'], 'diag'):.2f} (untrained "
               f"{med(rc['rnn'], 'diag0'):.2f}, uniform 1/{S} = {1 / S:.2f}); "
               f"{verdict.agreement()}.")

    curves = plot_curves({f"{s} {k}": [r.history for r in results[f"{s}/{k}"].chosen]
                          for s in SYSTEMS for k in MODELS}, "test/sequence_accuracy",
                         ctx.workdir / "waves_learning_curves.png", threshold=SOLVED,
                         ylabel="test sequence accuracy",
                         title="hds: chosen lr per model, median over seeds, min–max band")
    lags = range(len(next(iter(next(iter(grads.values())).values()))))
    grad_fig = plot_lines({k: [(lag, Spread.of(g[lag] for g in per_seed.values()))
                               for lag in lags] for k, per_seed in grads.items()},
                          ctx.workdir / "waves_gradient_norms.png", xlabel="lag (steps after x_1)",
                          ylabel="‖∂state_t/∂x_1‖", logy=True,
                          title="repeat-copy: state gradient w.r.t. the first input")
    # the heat maps of the seed whose diagonal share is the median one
    diag = m[rc["rnn"]]["diag"]
    mid = sorted(diag, key=diag.get)[(len(diag) - 1) // 2]
    heat_fig = plot_krylov_wave(heats["trained"][mid], ctx.workdir / "waves_rnn_krylov.png",
                                title=f"trained Elman RNN (seed {mid}): x_1 in the Krylov basis")
    heat0_fig = plot_krylov_wave(heats["init"][mid], ctx.workdir / "waves_rnn_krylov_init.png",
                                 title=f"untrained Elman RNN (seed {mid}): x_1 in the Krylov basis")
    def lag_spread(per_seed: dict[int, list[float]], i: int) -> str:
        return format(Spread.of([g[i] for g in per_seed.values()]), ".3g")

    grad_rows = [[k, lag_spread(g, 0), lag_spread(g, S - 1), lag_spread(g, len(lags) - 1),
                  format(Spread.of([min(x) / max(x[0], 1e-30) for x in g.values()]), ".3g")]
                 for k, g in grads.items()]
    settings = paper_vs_here([
        ("task", "hds, s = d = 8, horizon curriculum 10 → 100",
         f"hds, s = d = 8, horizon {HORIZON[ctx.scale]}" + (
             " (trained through the curriculum)" if b.curriculum else
             " fixed (the curriculum 10 → 100 runs with --scale paper; at horizon 100 every "
             "sequence is 13× longer than the CPU budget allows)")),
        ("models", "TWM-LBC, RNN, LSTM", "TWM-LBC (8 columns of width 16), RNN 128 units, "
         "LSTM 64 units: 128 floats of state each"),
        ("training", "Adam 1e-3, batch 64, clip 1.0, many more steps",
         f"AdamW, warm-up + cosine, clip 1.0; {b.describe()}"),
    ], "paper (Karuvally et al. 2024, code)")
    body = f"""## Setting and budget

Task `hds`: s = {S} random ±1 vectors of dimension d = {D}, then a horizon during which the
model outputs the system's next vector; MSE on the output phase; main metric: sequence
accuracy (every sign of the horizon right). Systems: `repeat-copy` (y(t) = y(t−s)) and
`signed-selection` (a fixed signed selection of components of the previous s vectors). Every
model gets the same budget; its learning rate is chosen on the validation split.

{settings}

**Criteria (stated before the run), on medians over seeds.** Criterion (b) used to ask only
that the TWM's gradient keep ≥ {NO_VANISH}× its lag-0 value; the trained RNN and LSTM pass
that too, so it now also asks that the TWM keep more than both.

{verdict.lines()}

## Results

{grid_table(results, {"params": (lambda r: r.result["params"], "g"),
                      "test seq acc": lambda r: r.test()})}

![learning curves]({curves.name})

Gradient of the recurrent state (TWM: the whole substrate; RNN: h; LSTM: h and c) with
respect to the first input vector, ‖∂state_t/∂x_1‖_F, mean over {probe} test sequences, for
the chosen repeat-copy runs and the same models untrained; median [min–max] over seeds;
"min ratio" is the smallest value over all lags divided by the lag-0 value:

{markdown_table(["model", "lag 0", f"lag {S - 1}", f"lag {len(lags) - 1}", "min ratio"],
                grad_rows)}

![gradient norm vs lag]({grad_fig.name})

The trained RNN's hidden state, perturbed through x_1 and projected on the Krylov basis
[W_in, W_hh W_in, …, W_hh^(s−1) W_in] (each column sums to 1; a diagonal stripe is a
traveling wave), for the seed with the median diagonal share. Diagonal share over the first
{S} steps: {med(rc['rnn'], 'diag'):.3f} (untrained: {med(rc['rnn'], 'diag0'):.3f}); share of
‖Δh_t‖ inside the basis's span: {med(rc['rnn'], 'span'):.3f} (untrained
{med(rc['rnn'], 'span0'):.3f}); condition number of the basis: {med(rc['rnn'], 'cond'):.3g}.
For a linear RNN with a full-rank Krylov basis the projection is a shift by construction; the
test is whether the trained *nonlinear* RNN's hidden state behaves that way.

![Krylov-basis projection]({heat_fig.name})

![Krylov-basis projection, untrained]({heat0_fig.name})

"""
    return Report(verdict.verdict, summary, body, [curves, grad_fig, heat_fig, heat0_fig],
                  results)


REPRODUCTION = Reproduction(
    name="waves",
    paper="Karuvally, Sejnowski & Siegelmann 2024, ICML, arXiv 2402.10163",
    claim="a traveling-wave memory with a linear boundary learns history-dependent dynamics; "
          "its gradient does not vanish over the wave's window; Elman RNNs trained on these "
          "tasks hold hidden traveling waves",
    run=run,
    history=(
        "First full run (commit 377d02e): TWM columns of width 8 (the paper's d), RNN of "
        "s·d = 64 units, LSTM 32, up to 1,500 steps, one seed: partly reproduced (TWM "
        "solved repeat-copy, stalled near 0.74 on signed-selection; the RNN learned nothing "
        "in 1,500 steps, so (c) was untested).",
        "Commit c309e09: the gradient measured on the state w.r.t. the first input, trained "
        "and untrained; (c) tested only for an RNN that learned the task.",
        "Commit 3563de4: TWM columns of width 16, RNN 128 units, LSTM 64 (128 floats of "
        "state each), up to 3,000 steps; (c) also needs the trained share above the "
        "untrained one: reproduced (TWM 1.000 on both, diagonal share 0.78 vs 0.17). The "
        "verdict moved to reproduced after these settings changed.",
        "Now: 5 seeds, a 3-value grid chosen on validation, verdict on medians; (b) also "
        "asks the TWM to keep more gradient than the trained RNN (0.74) and LSTM (0.53), "
        "which passed the old threshold too.",
    ),
)
