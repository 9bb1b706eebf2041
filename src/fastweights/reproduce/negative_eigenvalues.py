"""Negative eigenvalues unlock parity (Grazzi et al. 2025, ICLR).

DeltaNet's transition is I − β k kᵀ with ‖k‖ = 1, whose eigenvalue along k is 1 − β. With
β = σ(·) ∈ (0, 1) every eigenvalue lies in [0, 1], and the paper proves such a linear RNN
cannot solve parity at arbitrary length; with β = 2σ(·) ∈ (0, 2) it reaches −1 (a
reflection), which flips a sign per 1-bit: parity, for any length. We train a one-layer
DeltaNet both ways on parity with lengths 3–40 and test on lengths 40–256 (scaled accuracy:
0 = chance, 1 = perfect); both get the same budget, grid and seeds, and each its learning rate
chosen on a validation split at the training lengths.
"""

from __future__ import annotations

from fastweights.reproduce.budget import Budget, Context
from fastweights.reproduce.criterion import Check, judge, measure
from fastweights.reproduce.grid import Cell, run_grid
from fastweights.reproduce.plots import plot_bars
from fastweights.reproduce.report import (
    Report,
    Reproduction,
    grid_table,
    paper_vs_here,
    spread,
)

GEN = 0.5  # scaled accuracy on lengths 40–256 counted as "generalises"
NO_GEN = 0.2  # ... and as "does not"
LEARN = 0.9  # scaled accuracy on the training lengths counted as "learned"
BETAS = {"β ∈ (0, 2) (2σ)": "2sigmoid", "β ∈ (0, 1) (σ)": "sigmoid"}
MODEL = {"quick": {"d_model": 32, "n_heads": 1, "n_layers": 1},
         "cpu": {"d_model": 32, "n_heads": 1, "n_layers": 1},
         "paper": {"d_model": 128, "n_heads": 2, "n_layers": 2}}
TEST = {"quick": (64, 100, 20), "cpu": (256, 500, 200), "paper": (256, 1000, 1000)}
BUDGETS = {
    "quick": Budget(steps=10, batch_size=32, eval_every=10, lrs=(3e-3,), seeds=(0,),
                    val_size=64),
    "cpu": Budget(steps=500, batch_size=32, eval_every=100, lrs=(1e-3, 3e-3, 1e-2),
                  seeds=(0, 1, 2, 3, 4)),
    "paper": Budget(steps=20_000, batch_size=128, eval_every=1000, lrs=(3e-4, 1e-3, 3e-3),
                    seeds=(0, 1, 2)),
}


def run(ctx: Context) -> Report:
    b, (max_test, test_size, long_size) = BUDGETS[ctx.scale], TEST[ctx.scale]
    cells = [Cell(beta, "deltanet", "state-tracking", b, MODEL[ctx.scale] | {"beta": beta},
                  {"problem": "parity", "min_len": 3, "max_len": 40, "test_min_len": 40,
                   "test_max_len": max_test, "test_size": test_size,
                   "test_long_size": long_size})
             for beta in BETAS.values()]
    results = run_grid(cells, ctx)
    m = measure(results, lambda r: {"train": r.test(), "long": r.test(split="test_long")})
    neg, pos = BETAS.values()
    checks = [
        Check(f"β ∈ (0, 2): scaled accuracy ≥ {LEARN} on the training lengths and ≥ {GEN} on "
              f"lengths 40–{max_test}",
              lambda v: v(neg, "train") >= LEARN and v(neg, "long") >= GEN,
              lambda v: f"{v(neg, 'train'):.3f} and {v(neg, 'long'):.3f}"),
        Check(f"β ∈ (0, 1): scaled accuracy on lengths 40–{max_test} < {NO_GEN}",
              lambda v: v(pos, "long") < NO_GEN, lambda v: f"{v(pos, 'long'):.3f}"),
    ]
    verdict = judge(checks, m)
    train = {k: spread(results[v], lambda r: r.test()) for k, v in BETAS.items()}
    long = {k: spread(results[v], lambda r: r.test(split="test_long")) for k, v in BETAS.items()}
    summary = (f"Scaled accuracy on lengths 40–{max_test}, median [min–max] over "
               f"{len(b.seeds)} seed(s) at the lr chosen on validation: " + ", ".join(
                   f"{k} {long[k]}" for k in BETAS) + f"; {verdict.agreement()}.")
    fig = plot_bars(["lengths 3–40", f"lengths 40–{max_test}"],
                    {k: [train[k], long[k]] for k in BETAS},
                    ctx.workdir / "negative-eigenvalues_parity.png", ylabel="scaled accuracy",
                    title="DeltaNet on parity (median over seeds, min–max)")
    settings = paper_vs_here([
        ("model", "DeltaNet (and Mamba, mLSTM), several layers",
         f"DeltaNet, {MODEL[ctx.scale]['n_layers']} layer(s), d_model "
         f"{MODEL[ctx.scale]['d_model']}, {MODEL[ctx.scale]['n_heads']} head(s), short conv 4, "
         "L2-normalised keys"),
        ("switch", "β → 2β", '`beta="sigmoid"` vs `beta="2sigmoid"`'),
        ("data", "parity, train lengths 3–40, test 40–256", f"the same; {long_size} test "
         f"sequences of length 40–{max_test}"),
        ("training", "long runs, several lrs and seeds; best and median reported",
         f"AdamW, warm-up + cosine; {b.describe()}"),
    ], "paper (Grazzi et al. 2025)")
    body = f"""## Setting and budget

{settings}

**Pre-stated criterion, on medians over seeds:**

{verdict.lines()}

## Results

{grid_table(results, {"scaled acc (3–40)": lambda r: r.test(),
                      f"scaled acc (40–{max_test})": lambda r: r.test(split="test_long"),
                      f"sequence acc (40–{max_test})":
                          lambda r: r.test("sequence_accuracy", "test_long")})}

![parity]({fig.name})

"""
    return Report(verdict.verdict, summary, body, [fig], results)


REPRODUCTION = Reproduction(
    name="negative-eigenvalues",
    paper="Grazzi et al. 2025",
    claim="DeltaNet with β ∈ (0, 2) (negative eigenvalues) solves parity with length "
          "generalisation (train lengths ≤ 40, test to 256); with β ∈ (0, 1) it cannot.",
    run=run,
    history=(
        "First full run (commit f14b79c): 500 steps, lr 3e-3, a seed below 0.5 on the long "
        "lengths rerun at 1e-2, seeds 0–2, best lr per seed by the long-length test "
        "accuracy: reproduced (β ∈ (0, 2) median 0.81, β ∈ (0, 1) at most 0.07).",
        "Commit 5e0be47: rerun after the auto-form change, verdict unchanged (median 0.819).",
        "Commit aca9a27: 5 seeds, a 3-value grid chosen per β on a validation split at the "
        "training lengths (never on the long test set), verdict on medians: reproduced "
        "(β ∈ (0, 2) 0.898 [0.411–0.972], β ∈ (0, 1) 0.055 [0.046–0.072]; 4 of 5 seeds "
        "agree).",
        "Now (commit 2f5ec35): the same, with DeltaNet's preset applying SiLU once to q and "
        "k (the short convolution's, as fla's layer) where it applied it twice.",
    ),
)
