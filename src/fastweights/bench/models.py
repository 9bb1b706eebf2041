"""Benchmark of whole models on CPU: training throughput, activation memory and streaming.

Run as ``fastweights bench models --threads 1`` (``--quick``: tiny shapes, seconds;
``--csv out.csv``: every row). For each model (fast-weight models beside softmax attention
and an LSTM, all at d_model 256, 4 layers, 4 heads, batch 8, token inputs and outputs of
256 classes) and each length T it prints

- training tokens/s: one AdamW step on a cross-entropy loss (forward, backward, update),
  the minimum wall time over repetitions, and the cost per token relative to the shortest T
  (flat = 1.0 means linear in T);
- activation memory: the bytes that autograd saves for the backward of one forward
  (distinct storages, measured with ``saved_tensors_hooks``);
- streaming: ``model.step`` latency (batch 1, minimum over 8 tokens) after a prefill of
  L tokens, and the number of aten operations that one step dispatches.

With ``--without-op`` each fast-weight model is also timed with its op replaced by o = v
(projections, convolution, norms, gates and MLP kept): the speed that no faster op can lift
the model past, and the op's share of the step, 1 − (step without op) / (step).

With ``--compile`` each training step is also timed through ``torch.compile(model)``, and
each streaming step through ``torch.compile(model.step)`` (static shapes for a fixed-size
state, dynamic for a growing KV cache), beside the eager ones in the same process; the first
calls, which compile, are not timed.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from fastweights import models
from fastweights.bench.ops import header
from fastweights.layers.fast_weight import FastWeightLayer

MODELS = ("deltanet", "gated-deltanet", "gla", "retnet", "transformer", "lstm")
VOCAB = 256


class _CountOps(TorchDispatchMode):
    """Counts the aten operations dispatched while active."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def build(name: str, d_model: int, n_layers: int, max_len: int):
    kw = dict(d_model=d_model, n_layers=n_layers, input_size=VOCAB, output_size=VOCAB)
    fields = {f for f in models.make_config(name).__dataclass_fields__}
    if "n_heads" in fields:
        kw["n_heads"] = 4
    if "max_len" in fields:
        kw["max_len"] = max_len
    return models.build(name, **kw)


def _no_op(q, k, v, g, beta, S, form):
    """A fast-weight layer's ``rule`` that costs nothing: o = v (the first of DeltaProduct's
    values), the state unchanged."""
    return (v if v.dim() == 4 else v[:, :, 0]), S


def without_op(model) -> bool:
    """Replace every fast-weight layer's op by ``_no_op``; whether the model has any."""
    layers = [m for m in model.modules() if isinstance(m, FastWeightLayer)]
    for layer in layers:
        layer.rule = _no_op
    return bool(layers)


def train_step_time(model, B: int, T: int, reps: int) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, VOCAB, (B, T), generator=gen)
    y = torch.randint(0, VOCAB, (B, T), generator=gen)

    def step():
        opt.zero_grad(set_to_none=True)
        out, _ = model(x)
        F.cross_entropy(out.reshape(-1, VOCAB), y.reshape(-1)).backward()
        opt.step()
    step()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - t0)
    return best


def activation_bytes(model, B: int, T: int) -> int:
    x = torch.randint(0, VOCAB, (B, T), generator=torch.Generator().manual_seed(0))
    saved: dict[int, int] = {}
    # every saved storage but the weights: a custom autograd Function saves tensors that it
    # made under no_grad (leaves without grad), which are activations all the same
    weights = {t.untyped_storage().data_ptr() for t in (*model.parameters(), *model.buffers())}

    def pack(t):
        if t.untyped_storage().data_ptr() not in weights:
            saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        # detached: a saved output returned as itself would hold its own graph in a
        # reference cycle that nothing frees (the forward is never backpropagated here)
        return t.detach()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out, _ = model(x)
    del out
    return sum(saved.values())


def step_latency(model, L: int, tokens: int = 8, step=None) -> tuple[float, int | None]:
    """(seconds per ``step`` after a prefill of L tokens, aten ops in one step): the fastest
    of ``tokens`` successive steps of one stream (contexts L + 1 … L + tokens). ``step``
    replaces ``model.step`` (a compiled one; its ops are not counted: None)."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        _, state = model(torch.randint(0, VOCAB, (1, L), generator=gen))
        x = torch.randint(0, VOCAB, (1,), generator=gen)
        run = step or model.step
        for _ in range(2):  # the first calls of a compiled step compile
            _, state = run(x, state)
        best = float("inf")
        for _ in range(tokens):
            t0 = time.perf_counter()
            _, state = run(x, state)
            best = min(best, time.perf_counter() - t0)
        if step is not None:
            return best, None
        with _CountOps() as counter:
            model.step(x, state)
    return best, counter.count


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="fastweights bench models", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--quick", action="store_true", help="tiny shapes; runs in seconds")
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--lengths", type=int, nargs="+", default=None,
                        help="training lengths T (default 256 1024 4096)")
    parser.add_argument("--contexts", type=int, nargs="+", default=None,
                        help="streaming context lengths (default 256 1024 4096)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--reps", type=int, default=2, help="timed training steps (minimum)")
    parser.add_argument("--csv", type=Path, default=None, help="also write every row")
    parser.add_argument("--compile", action="store_true",
                        help="also time the training step under torch.compile")
    parser.add_argument("--without-op", action="store_true",
                        help="also time each fast-weight model with its op replaced by o = v")
    args = parser.parse_args(argv)
    unknown = [m for m in args.models if m not in models.MODELS]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; available: {sorted(models.MODELS)}")
    torch.set_num_threads(args.threads)
    if args.quick:
        d, layers, B, lengths, contexts, reps = 32, 1, 2, [32, 64], [16, 64], 1
    else:
        d, layers, B, reps = 256, 4, args.batch, args.reps
        lengths, contexts = [256, 1024, 4096], [256, 1024, 4096]
    lengths, contexts = args.lengths or lengths, args.contexts or contexts
    lines = header(args.threads, f"d_model={d} n_layers={layers} n_heads=4 batch={B} "
                                 f"vocab={VOCAB}")
    lines[0] = "# fastweights bench models"
    print("\n".join(lines), flush=True)
    rows: list[dict] = []
    print("\n## Training: tokens/s (one AdamW step, min wall time), activation memory\n")
    compiled = " compiled step ms | compile speed-up |" if args.compile else ""
    compiled += " tokens/s without op | op share |" if args.without_op else ""
    print("| model | parameters | T | step ms | tokens/s | cost/token vs first T | "
          f"saved for backward MiB |{compiled}")
    print("|---|---|---|---|---|---|---|" + "---|---|" * (args.compile + args.without_op))
    for name in args.models:
        torch.manual_seed(0)
        model = build(name, d, layers, max(max(lengths), max(contexts)) + 16)
        bare = None  # the same model without its op (--without-op), if it has one
        if args.without_op:
            bare = build(name, d, layers, max(max(lengths), max(contexts)) + 16)
            bare = bare if without_op(bare) else None
        params = sum(p.numel() for p in model.parameters())
        first = None
        for T in lengths:
            secs = train_step_time(model, B, T, reps)
            per_token = secs / (B * T)
            first = first or per_token
            mem = activation_bytes(model, B, T)
            extra, row = "", {}
            if args.compile:
                fast = train_step_time(torch.compile(model), B, T, reps)
                extra = f" {fast * 1e3:.0f} | {secs / fast:.2f}× |"
                row = {"compiled_ms": 1e3 * fast}
            if args.without_op:
                bare_secs = train_step_time(bare, B, T, reps) if bare is not None else None
                extra += (f" {B * T / bare_secs:,.0f} | {1 - bare_secs / secs:.0%} |"
                          if bare_secs else " – | – |")
                row |= {"without_op_ms": 1e3 * bare_secs} if bare_secs else {}
            print(f"| {name} | {params / 1e6:.2f} M | {T} | {secs * 1e3:.0f} | "
                  f"{B * T / secs:,.0f} | {per_token / first:.2f} | {mem / 2**20:.0f} |{extra}",
                  flush=True)
            rows.append(dict(section="train", model=name, T=T, ms=secs * 1e3,
                             tokens_per_s=B * T / secs, saved_mib=mem / 2**20) | row)
    print("\n## Streaming: one model.step (batch 1) after a prefill of L tokens\n")
    compiled = " compiled step ms | compile speed-up |" if args.compile else ""
    print(f"| model | L | step ms | aten ops per step |{compiled}\n|---|---|---|---|"
          + ("---|---|" if args.compile else ""))
    for name in args.models:
        torch.manual_seed(0)
        model = build(name, d, layers, max(max(lengths), max(contexts)) + 16).eval()
        fast = (torch.compile(model.step, dynamic=bool(model.state_grows)) if args.compile
                else None)
        for L in contexts:
            secs, ops = step_latency(model, L)
            extra, row = "", {}
            if fast is not None:
                fast_secs = step_latency(model, L, step=fast)[0]
                extra = f" {fast_secs * 1e3:.2f} | {secs / fast_secs:.2f}× |"
                row = {"compiled_ms": 1e3 * fast_secs}
            print(f"| {name} | {L} | {secs * 1e3:.2f} | {ops} |{extra}", flush=True)
            rows.append(dict(section="stream", model=name, T=L, ms=secs * 1e3, ops=ops) | row)
    if args.csv is not None:
        fields = ["section", "model", "T", "ms", "tokens_per_s", "saved_mib", "ops",
                  "compiled_ms", "without_op_ms"]
        with args.csv.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["threads", *fields])
            writer.writeheader()
            for row in rows:
                writer.writerow({"threads": args.threads} | row)
        print(f"\nwrote {args.csv} ({len(rows)} rows)")
    return 0
