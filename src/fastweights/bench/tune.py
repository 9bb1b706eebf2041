"""Measure the table that ``form="auto"`` reads: the fastest form and chunk size per rule and
shape regime, for training (forward + backward) and for inference (forward only).

Run as ``fastweights bench tune --threads 1``; it prints the measurements and rewrites
``fastweights/ops/auto_table.py`` (``--out`` to write elsewhere, ``--dry-run`` to only print).

Regimes (``ops.auto_table.REGIMES``): many small heads, K = V = 16 with B·H = 64, lengths
T ∈ {16, 64, 256, 1024}, and large heads, K = V = 64 with B·H = 8, T ∈ {16, 64, 256, 1024,
4096}. Candidates: the
recurrent form (skipped from T = 1024 on when a chunk form exists and the recurrent form was
over 3× slower than the pick at T = 256 in the same row: its cost per step does not fall
with T), the parallel form up to T = 256 (not for a per-key gate: T²·K memory) and the
chunk form at C ∈ {16, 32, 64} (C ≤ T). Each is timed as the minimum CPU time
(``time.process_time``) of a few calls, which a busy shared machine disturbs less than wall
time; the times of one table row are measured back to back in one process.
"""

from __future__ import annotations

import argparse
import pprint
import time
from collections.abc import Callable
from pathlib import Path

import torch

from fastweights.bench import ops as bench_ops
from fastweights.ops import RULES, auto_table, dispatch, sampling

CHUNKS = (16, 32, 64)
SHAPES = {"small": dict(B=16, H=4, K=16, V=16, lengths=(16, 64, 256, 1024)),
          "large": dict(B=2, H=4, K=64, V=64, lengths=(16, 64, 256, 1024, 4096))}


def cpu_time(fn: Callable[[], object], reps: int) -> float:
    """Minimum CPU seconds of ``fn`` over ``reps`` calls after one warm-up."""
    fn()
    best = float("inf")
    for _ in range(reps):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def candidates(case: sampling.Case, T: int, recurrent_lost: bool) -> list[tuple[str, int]]:
    """The (form, chunk size) pairs timed at length T; ``recurrent_lost``: the recurrent form
    was over 3× slower than the pick at the previous length."""
    # the benchmark's forms: a per-key gate's parallel form (T²·K memory) is left out
    rule, forms, out = case.rule, bench_ops.Case(case).forms, []
    if "recurrent" in forms and not (T >= 1024 and "chunk" in forms and recurrent_lost):
        out.append(("recurrent", 0))
    if "parallel" in forms and T <= 256:
        out.append(("parallel", 0))
    if "chunk" in rule.forms:
        out += [("chunk", c) for c in CHUNKS if c <= T]
    return out


def measure(case: sampling.Case, form: str, chunk: int, T: int, shape: dict, reps: int,
            train: bool) -> float:
    x = case.inputs(T=T, n_h=2, dtype=torch.float32, seed=0, initial_state=False, **shape)
    xs = [t.clone().requires_grad_(train) for t in x.values()]
    kw = case.options | ({"chunk_size": chunk} if form == "chunk" else {})

    def run():
        if train:
            for t in xs:
                t.grad = None
            o, _ = case.rule.fn(*xs, form=form, **kw)
            o.sum().backward()
        else:
            with torch.no_grad():
                case.rule.fn(*xs, form=form, **kw)
    return cpu_time(run, reps)


def tune(rules: list[str] | None, shapes: dict, reps: int, log=print,
         skip: frozenset[str] = frozenset()) -> dict:
    """The table rows of every variant of ``rules`` (all: None) but those in ``skip``."""
    table: dict = {}
    seen = set(skip)
    for rule in RULES.values():
        if rules is not None and rule.name not in rules:
            continue
        for case in sampling.cases(rule):
            xs = case.inputs(T=2, n_h=2, initial_state=False)
            variant = dispatch.variant(rule, list(xs.values()))
            if variant in seen or len(rule.forms) == 1:
                continue
            seen.add(variant)
            for regime, spec in shapes.items():
                shape = {n: v for n, v in spec.items() if n != "lengths"}
                for mode in ("train", "infer"):
                    row, lost = [], False
                    for T in spec["lengths"]:
                        times = {(f, c): measure(case, f, c, T, shape, reps, mode == "train")
                                 for f, c in candidates(case, T, lost)}
                        (form, chunk), best = min(times.items(), key=lambda kv: kv[1])
                        if ("recurrent", 0) in times:
                            lost = times[("recurrent", 0)] > 3 * best
                        row.append((T, form, chunk))
                        shown = ", ".join(f"{f}{'/' + str(c) if c else ''} {t * 1e3:.1f}"
                                          for (f, c), t in times.items())
                        log(f"| {variant} | {regime} | {mode} | {T} | {shown} | "
                            f"**{form}{'/' + str(chunk) if chunk else ''}** |")
                    table.setdefault(variant, {}).setdefault(regime, {})[mode] = row
    return table


HEADER = '''"""The measured table that ``form="auto"`` reads (``dispatch.auto_choice``).

Generated by
``{command}``
(torch {torch}, {threads} thread(s)) on {machine};
do not edit by hand, regenerate.{kept}
``TABLE[variant][regime][mode]`` lists (T_max, form, chunk_size): the first row with
T ≤ T_max applies (the last one beyond it). ``variant`` is the rule name plus the shapes of
arguments that accept several (``dispatch.variant``); ``regime`` is "small" (K ≤ {split}) or
"large"; ``mode`` is "train" (some input requires grad) or "infer".
"""

SPLIT_K = {split}
REGIMES = {regimes!r}

TABLE = {table}
'''


def write(table: dict, path: Path, threads: int, command: str, kept: bool = False) -> None:
    """Write the table module; ``kept``: some variants come from the table it replaces."""
    machine = bench_ops.header(threads, "")[1].removeprefix("machine: ")
    text = HEADER.format(command=command, machine=machine, torch=torch.__version__,
                         threads=threads, split=auto_table.SPLIT_K,
                         kept="\nThe variants it did not measure are kept from the table it "
                              "replaced." if kept else "",
                         regimes=auto_table.REGIMES,
                         table=pprint.pformat(table, width=96, sort_dicts=True))
    path.write_text(text)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="fastweights bench tune", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--reps", type=int, default=2, help="timed calls per candidate (min)")
    parser.add_argument("--rules", nargs="+", default=None, help="only these rules")
    parser.add_argument("--missing", action="store_true",
                        help="only the variants the current table does not list")
    parser.add_argument("--quick", action="store_true",
                        help="tiny shapes and two lengths; prints only (implies --dry-run)")
    parser.add_argument("--dry-run", action="store_true", help="print, do not write the table")
    parser.add_argument("--out", type=Path, default=Path(auto_table.__file__),
                        help="where to write the table (default: the package's own)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    shapes, reps = SHAPES, args.reps
    if args.quick:
        shapes = {"small": dict(B=2, H=2, K=8, V=8, lengths=(16, 64)),
                  "large": dict(B=1, H=1, K=40, V=8, lengths=(16, 64))}
        reps = 1
    print("| variant | regime | mode | T | ms (min CPU time) per candidate | pick |")
    print("|---|---|---|---|---|---|", flush=True)
    skip = frozenset(auto_table.TABLE) if args.missing else frozenset()
    table = tune(args.rules, shapes, reps, log=lambda s: print(s, flush=True), skip=skip)
    if not (args.quick or args.dry_run):
        old = {k: v for k, v in auto_table.TABLE.items() if k not in table}
        command = " ".join(["fastweights bench tune --threads", str(args.threads),
                            *(["--reps", str(reps)] if reps != 2 else []),
                            *(["--rules", *args.rules] if args.rules else []),
                            *(["--missing"] if args.missing else [])])
        write(old | table, args.out, args.threads, command, kept=bool(old))
        print(f"\nwrote {args.out}")
    return 0
