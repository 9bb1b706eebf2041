"""Character-level language modelling on the bundled Shakespeare at equal parameter counts
(Schlag, Irie & Schmidhuber 2021; Yang, Kautz & Hatamizadeh 2025).

DeltaNet, Gated DeltaNet, the linear transformer (sum rule), an LSTM and softmax attention,
two layers each, every width fitted to one parameter budget, train for the same number of
steps (the same characters seen) and are scored by validation bits per character on the
held-out tenth of the corpus. The claim, carried from word-level language modelling to
characters: the delta rule models language better than the sum rule at the same size
(Schlag et al. 2021), and the gate improves the delta rule further (Yang et al. 2025).

Besides bpc the report gives each model's training throughput (characters per second, one
thread), its generation speed (``fastweights.sampling.sample``, one token per ``step``),
its state size, and a sample of text from its best checkpoint.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from fastweights import load_run
from fastweights.reproduce.report import Report, Reproduction
from fastweights.sampling import sample
from fastweights.train.sweep import Sweep, execute

MODELS = ("deltanet", "gated-deltanet", "linear-transformer", "lstm", "transformer")
PARAMS = 50_000
SEQ_LEN = 128
BATCH = 32
STEPS = 300
LR = 3e-3
PROMPT = "ROMEO:\n"
SAMPLE_TOKENS = 240
TEMPERATURE = 0.8


def _sweep(quick: bool, out: Path, workers: int) -> Sweep:
    return Sweep(models=list(MODELS), tasks=["char-lm"], lrs=[LR], seeds=[0],
                 params=8_000 if quick else PARAMS, model={"n_layers": 2},
                 task={"seq_len": 32 if quick else SEQ_LEN, "test_size": 8 if quick else 128},
                 train={"steps": 4 if quick else STEPS, "batch_size": 4 if quick else BATCH,
                        "warmup": 1 if quick else 30, "eval_every": 2 if quick else 100,
                        "threads": 1},
                 workers=workers, out=str(out))


def _generate(run_dir: Path, n_tokens: int) -> tuple[str, float, int]:
    """A sample from the run's best checkpoint (seed 0), the generation speed in tokens per
    second, and the model's width."""
    run = load_run(run_dir)
    model, task = run.model, run.task
    torch.set_num_threads(1)
    start = time.perf_counter()
    tokens = list(sample(model, task.encode(PROMPT)[None], n_tokens, TEMPERATURE,
                         torch.Generator().manual_seed(0)))
    seconds = time.perf_counter() - start
    text = PROMPT + task.decode(torch.cat(tokens))
    return text, (len(PROMPT) + n_tokens) / seconds, model.config.d_model


def run(quick: bool, workdir: Path, workers: int) -> Report:
    results = execute(_sweep(quick, workdir, workers))
    rows = []
    for m, r in zip(MODELS, results, strict=True):
        text, gen_speed, width = _generate(workdir / r["run"], 16 if quick else SAMPLE_TOKENS)
        seq_len = 32 if quick else SEQ_LEN
        tokens = r["steps"] * (4 if quick else BATCH) * seq_len
        rows.append({"model": m, "params": r["params"], "d_model": width,
                     "state": r["state_size"],
                     "grows": r["state_grows"], "bpc": r["final"]["test/bpc"],
                     "accuracy": r["final"]["test/accuracy"], "train_speed": tokens / r["time"],
                     "gen_speed": gen_speed, "sample": text})
    bpc = {r["model"]: r["bpc"] for r in rows}
    checks = [(f"DeltaNet's validation bpc is below the linear transformer's (seen: "
               f"{bpc['deltanet']:.3f} vs {bpc['linear-transformer']:.3f})",
               bpc["deltanet"] < bpc["linear-transformer"]),
              (f"Gated DeltaNet's bpc is at most DeltaNet's (seen: "
               f"{bpc['gated-deltanet']:.3f} vs {bpc['deltanet']:.3f})",
               bpc["gated-deltanet"] <= bpc["deltanet"])]
    held = sum(ok for _, ok in checks)
    verdict = ("reproduced" if held == 2 else "partly reproduced" if held == 1
               else "not reproduced")
    summary = "Validation bits per character: " + ", ".join(
        f"{r['model']} {r['bpc']:.3f}" for r in sorted(rows, key=lambda r: r["bpc"])) + "."
    table = ["| model | d_model | params | state (floats) | val bpc | val accuracy | "
             "train chars/s | generate chars/s |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        state = (f"{r['state']}/char ({r['state'] * seq_len} at {seq_len})" if r["grows"]
                 else f"{r['state']}")
        table.append(f"| {r['model']} | {r['d_model']} | {r['params']:,} | {state} | "
                     f"{r['bpc']:.3f} | {r['accuracy']:.3f} | {r['train_speed']:,.0f} | "
                     f"{r['gen_speed']:,.0f} |")
    samples = "\n\n".join(f"**{r['model']}** (bpc {r['bpc']:.3f}):\n\n```\n{r['sample']}\n```"
                          for r in rows)
    steps = 4 if quick else STEPS
    body = f"""
## Setting and budget

Task `char-lm`: six Shakespeare plays bundled with the package (73 characters), the last
10% held out; training windows of {seq_len} characters at random offsets, validation on
{8 if quick else 128} consecutive held-out windows. Every model has 2 layers and a width
fitted to {8_000 if quick else PARAMS:,} parameters (`fastweights.models.sizing.fit_width`),
and trains {steps} steps of batch {4 if quick else BATCH} (AdamW, lr {LR:g}, warm-up then
cosine decay, one seed, one thread per process), so every model sees the same
{steps * (4 if quick else BATCH) * seq_len:,} characters. The reported bpc is the
validation bpc at the end of training. The papers train far larger models for far longer
on word-level corpora (WikiText-103, SlimPajama); this is a small check of the same
ordering, not their setting.

State size counts floats per sequence: the fast weights and short-convolution buffers of
both layers, an LSTM's h and c, and softmax attention's KV cache, which grows by 2 ·
n_layers · d_model floats per character (shown at the training length). Speeds are
characters per second on this machine while other jobs shared it: training (forward,
backward and update, over the whole run) and generation (`fastweights.sampling.sample`:
one `step` per character, the prompt included, batch 1).

**Pre-stated criterion.** {"; ".join(t.split(" (seen")[0] for t, _ in checks)}. Both hold:
reproduced; one: partly reproduced; none: not reproduced.

## Results

{chr(10).join(table)}

## What was seen

{"; ".join(("✓ " if ok else "✗ ") + t for t, ok in checks)}.

## Samples

Each model's best checkpoint continues `{PROMPT!r}` for {16 if quick else SAMPLE_TOKENS}
characters at temperature {TEMPERATURE}, seed 0 (`fastweights generate RUN --prompt ...`
prints the same from any run folder):

{samples}
"""
    return Report(verdict, summary, body)


REPRODUCTION = Reproduction(
    name="char-lm",
    paper="Schlag, Irie & Schmidhuber 2021; Yang, Kautz & Hatamizadeh 2025",
    claim="at equal parameter counts and training budget, the delta rule models language "
          "better than the sum rule (linear transformer), and a gated delta rule better "
          "still; here on characters of Shakespeare, scored in validation bits per character.",
    run=run,
)
