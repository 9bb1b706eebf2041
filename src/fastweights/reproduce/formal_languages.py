"""Irie, Csordás & Schmidhuber (2023): linear transformers inherit the transformer's limits
(they fail to generalise on parity), recurrent FWPs and the self-referential weight matrix
overcome some of them (they generalise on parity), and the delta rule helps where memory
must be reset (reset Dyck-1).

Setting: ``formal-lang`` next-character-set prediction, exact match per sequence, no
positional encoding; languages ``parity`` and ``reset-dyck``; models
``linear-transformer`` and ``deltanet`` (2 layers, width 32, 2 heads), ``rdn`` and ``srwm``
(one recurrent FWP cell, width 32) and ``lstm`` (32 units). Within a language every model
gets the same budget; parity gets the larger one (batch 64, up to 2,000 steps). Each run's
numbers are read at its evaluation with the best validation (training-length) sequence
accuracy, and each model's learning rate is chosen by the median of that over seeds.

Criteria, stated before the run (medians over seeds, longer bin):
(a) parity: the linear transformer stays below ``FAIL`` while RDN or SRWM reaches ``PASS``;
(b) reset Dyck-1: DeltaNet beats the linear transformer by at least ``MARGIN``.
Both → reproduced; one → partly reproduced; neither → not reproduced.
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

LANGUAGES = ["parity", "reset-dyck"]
MODELS = {"linear-transformer": {"d_model": 32, "n_heads": 2},
          "deltanet": {"d_model": 32, "n_heads": 2},
          "rdn": {"d_model": 32}, "srwm": {"d_model": 32}, "lstm": {"d_model": 32}}
LENGTHS = {"quick": ((1, 24), (25, 50)), "cpu": ((1, 24), (25, 50)),
           "paper": ((1, 50), (51, 100))}  # train, longer test bin
SIZES = {"quick": 32, "cpu": 500, "paper": 1000}  # test, longer test and validation sets
FAIL, PASS, MARGIN = 0.5, 0.9, 0.2
SEEDS = (0, 1, 2)
LRS = (1e-3, 3e-3, 1e-2)
VARIANTS = "srwm: init=formal (W_q rows std 0.01/√d, β rows mean −1, fwp-formal-lang)"


def budget(scale: str, language: str) -> Budget:
    if scale == "quick":
        return Budget(steps=2, batch_size=32, eval_every=2, lrs=(1e-3,), seeds=(0,),
                      warmup=1, target=1.0, val_size=32)
    if scale == "paper":
        return Budget(steps=20_000, batch_size=64, eval_every=1000, lrs=(3e-4, 1e-3, 3e-3),
                      seeds=(0, 1, 2), target=1.0, val_size=1000)
    if language == "parity":
        return Budget(steps=2000, batch_size=64, eval_every=250, lrs=LRS,
                      seeds=SEEDS, target=1.0, extend=1)
    return Budget(steps=400, batch_size=32, eval_every=100, lrs=LRS,
                  seeds=SEEDS, target=1.0, extend=1)


def run(ctx: Context) -> Report:
    (train_len, test_len), size = LENGTHS[ctx.scale], SIZES[ctx.scale]
    cells = [Cell(f"{lang}/{m}", m, "formal-lang", budget(ctx.scale, lang), dict(c),
                  {"language": lang, "min_len": train_len[0], "max_len": train_len[1],
                   "test_min_len": test_len[0], "test_max_len": test_len[1],
                   "test_size": size, "test_long_size": size})
             for lang in LANGUAGES for m, c in MODELS.items()]
    results = run_grid(cells, ctx)
    m = measure(results, lambda r: {"in": r.test(), "long": r.test(split="test_long")})
    checks = [
        Check(f"parity, longer bin: linear transformer < {FAIL} and the better of RDN/SRWM "
              f"≥ {PASS}",
              lambda v: v("parity/linear-transformer", "long") < FAIL
              and max(v("parity/rdn", "long"), v("parity/srwm", "long")) >= PASS,
              lambda v: f"linear transformer {v('parity/linear-transformer', 'long'):.3f}, "
                        f"RDN {v('parity/rdn', 'long'):.3f}, SRWM {v('parity/srwm', 'long'):.3f}"),
        Check(f"reset Dyck-1, longer bin: DeltaNet ≥ linear transformer + {MARGIN}",
              lambda v: v("reset-dyck/deltanet", "long")
              - v("reset-dyck/linear-transformer", "long") >= MARGIN,
              lambda v: f"DeltaNet {v('reset-dyck/deltanet', 'long'):.3f}, linear transformer "
                        f"{v('reset-dyck/linear-transformer', 'long'):.3f}"),
    ]
    verdict = judge(checks, m)
    long = {k: spread(r, lambda run: run.test(split="test_long")) for k, r in results.items()}
    ind = {k: spread(r, lambda run: run.test()) for k, r in results.items()}
    best = {lang: max(MODELS, key=lambda k: long[f"{lang}/{k}"].median) for lang in LANGUAGES}
    summary = ("Longer-bin sequence accuracy, median [min–max] over seeds: " + "; ".join(
        f"{lang}: " + ", ".join(f"{k} {long[f'{lang}/{k}']}" for k in MODELS)
        for lang in LANGUAGES) + f"; {verdict.agreement()}.")
    fig = plot_bars(LANGUAGES, {k: [long[f"{lang}/{k}"] for lang in LANGUAGES] for k in MODELS},
                    ctx.workdir / "formal_languages_long.png",
                    ylabel=f"sequence accuracy, lengths {test_len[0]}–{test_len[1]}",
                    title="formal languages: longer bin (chosen lr, median over seeds)")
    fig_in = plot_bars(LANGUAGES, {k: [ind[f"{lang}/{k}"] for lang in LANGUAGES]
                                   for k in MODELS},
                       ctx.workdir / "formal_languages_train_length.png",
                       ylabel=f"sequence accuracy, lengths {train_len[0]}–{train_len[1]}",
                       title="formal languages: training lengths (chosen lr, median over seeds)")
    budgets = "; ".join(f"{lang}: {budget(ctx.scale, lang).describe()}"
                        for lang in LANGUAGES)
    settings = paper_vs_here([
        ("lengths", "train ≤ 50, test 51–100", f"train {train_len[0]}–{train_len[1]}, "
         f"test {test_len[0]}–{test_len[1]}"),
        ("models", "2 layers of every kind", "linear transformer and DeltaNet: 2 layers, width "
         "32, 2 heads; RDN and SRWM: one cell of width 32; LSTM 32 units; " + VARIANTS),
        ("languages", "parity, Dyck, reset Dyck-1, counter languages", ", ".join(LANGUAGES)),
        ("training", "longer training, several seeds", f"AdamW, warm-up + cosine, clip 1.0; "
         f"{budgets}"),
    ], "paper (Irie et al. 2023)")
    beaten = [f"on {lang} the best model on the longer bin is the {best[lang]}"
              for lang in LANGUAGES if best[lang] not in ("rdn", "srwm", "deltanet")]
    body = f"""## Setting and budget

Task `formal-lang`: after a start symbol, predict at every position the set of characters
that may come next (multi-label, BCE); a string counts when every set is right (exact match).
No positional encoding. Validation, test and longer test sets of {size} strings each.
Parity has the larger budget because at 400 steps of batch 32 the SRWM and an earlier
single-head RDN had not fit even the training lengths.

{settings}

**Criteria (stated before the run), on medians over seeds:**

{verdict.lines()}

## Results

{grid_table(results, {"params": (lambda r: r.result["params"], "g"),
                      "seq acc (train len)": lambda r: r.test(),
                      "seq acc (long)": lambda r: r.test(split="test_long")})}

![longer bin]({fig.name})

![training lengths]({fig_in.name})


"""
    discussion = ("A baseline beats the claimed models: " + "; ".join(beaten) + ". The claim "
                  "concerns the linear transformer's limits and what recurrent FWPs and the "
                  "delta rule add, which the criteria test; a baseline ahead of them does not "
                  "contradict it, but the report says so.") if beaten else ""
    dn, lt = (m[f"reset-dyck/{k}"]["long"] for k in ("deltanet", "linear-transformer"))
    if verdict.outcomes[1] is False and len(dn) > 1:
        lead = [dn[s] - lt[s] for s in sorted(set(dn) & set(lt))]
        median = (long["reset-dyck/deltanet"].median
                  - long["reset-dyck/linear-transformer"].median)
        discussion = (f"{discussion} On reset Dyck-1 DeltaNet leads the linear transformer in "
                      f"{sum(x > 0 for x in lead)} of {len(lead)} seeds (by "
                      f"{min(lead):.3f}–{max(lead):.3f} on the longer bin), but its median "
                      f"lead, {median:.3f}, is below the pre-stated {MARGIN}: the delta rule "
                      f"helps here by less than the criterion asked.").strip()
    return Report(verdict.verdict, summary, body, [fig, fig_in], results, discussion)


REPRODUCTION = Reproduction(
    name="formal-languages",
    paper="Irie, Csordás & Schmidhuber 2023, EMNLP, arXiv 2310.16076",
    claim="linear transformers inherit the transformer's limits (fail parity), recurrent "
          "FWPs and the SRWM overcome some of them (generalise on parity), the delta rule "
          "helps where memory must be reset (reset Dyck-1)",
    run=run,
    history=(
        "First full run (commit 6928311): parity and reset Dyck-1 (Dyck-1 dropped for the "
        "CPU budget, commit 179d8ae), 400 steps of batch 32, one seed, lrs 1e-3 and 3e-3: "
        "partly reproduced (delta rule helps on reset Dyck-1; no model generalised on parity "
        "at that budget).",
        "Commit 897d005: parity at batch 64, up to 2,000 steps, stop at the target: "
        "reproduced (SRWM 1.000 on the longer parity bin, linear transformer 0.178); the "
        "verdict moved to reproduced after this change.",
        "Commit 2e43a7d: the RDN with 4 heads (parity 1.000 on the longer bin, as SRWM); "
        "verdict unchanged. The lr was chosen by the longer-bin test accuracy.",
        "Commit 2e035f1: one seed (CPU time), the learning rate chosen on a validation "
        "split at training lengths (never on a test set), verdict on medians; the SRWM with "
        "the formal-language code's initialisation (" + VARIANTS + ") and a 3-value grid: "
        "reproduced (1 of 1 seeds).",
        "Commit 1e97c6d: the same with seeds 0, 1, 2, the models other than the SRWM at "
        "3e-3 only: reproduced, 3 of 3 seeds agree.",
        "Commit aca9a27: the 3-value grid for every model but the linear transformer and "
        "DeltaNet on parity (at 3e-3 only, for CPU time; they failed the longer bin there). "
        "The verdict moved down to partly reproduced with it: on reset Dyck-1 the linear "
        "transformer's validation-chosen rate is now 0.03 (the grid extended past 1e-2), "
        "where it generalises better than at 3e-3 (longer bin 0.510 → 0.660).",
        "Commit d161243: the grid for every cell. On parity the linear transformer and "
        "DeltaNet chose "
        "1e-2 (the grid extended to 3e-2, which is worse); their longer-bin accuracy rose "
        "from 0.156 / 0.102 at 3e-3 to 0.206 / 0.190, still far below 0.5, so the parity "
        "check and the verdict stand (reset Dyck-1: DeltaNet 0.828, linear transformer "
        "0.660, a median lead of 0.168 < 0.2).",
        "Now (commit 2f5ec35): the same, with DeltaNet's preset applying SiLU once to q and "
        "k (the short convolution's, as fla's layer) where it applied it twice. Verdict "
        "unchanged: on reset Dyck-1 DeltaNet 0.828 → 0.844 on the longer bin, a median lead "
        "of 0.184 over the linear transformer (1 of 3 seeds leads by ≥ 0.2); on parity "
        "DeltaNet 0.190 → 0.248. The linear transformer, whose model did not change, moved "
        "too (parity 0.206 at 1e-2 → 0.164 at 3e-3, now chosen on validation): the code "
        "changed at rounding level since d161243 (RMSNorm's hand-written backward, the "
        "feature map recomputed inside the short convolution's backward, the reordered "
        "kernels), and these runs amplify it.",
    ),
)
