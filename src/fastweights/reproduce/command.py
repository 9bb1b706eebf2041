"""``fastweights reproduce``: its arguments and what it does (the CLI registers both)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="*", help="reproductions to run (`--list` shows them; "
                   "`all` runs every one)")
    p.add_argument("--list", action="store_true", help="list the reproductions and exit")
    p.add_argument("--scale", choices=("cpu", "paper"), default="cpu",
                   help="cpu: sized for a laptop CPU (default); paper: the paper's own "
                   "settings (a GPU or a lot of time)")
    p.add_argument("--quick", action="store_true", help="a few steps of one seed and one "
                   "learning rate, to check the pipeline end to end (the verdict then means "
                   "nothing)")
    p.add_argument("--report", action="store_true", help="rebuild the report and plots from "
                   "the finished runs, training nothing")
    p.add_argument("--workers", type=int, default=2, help="parallel training processes "
                   "(default %(default)s; 1 trains in this process)")
    p.add_argument("--out", default=None, help="report folder (default docs/results; "
                   "docs/results/paper with --scale paper; runs/reproduce-quick/docs with "
                   "--quick)")
    p.add_argument("--runs", default="runs/reproduce", help="folder of the training runs "
                   "(default %(default)s)")


def main(args: argparse.Namespace, rest: list[str], parser: argparse.ArgumentParser) -> int:
    from fastweights.reproduce import REPRODUCTIONS
    from fastweights.reproduce.budget import Context
    from fastweights.reproduce.report import write_report

    if rest:
        parser.error(f"unrecognised arguments: {' '.join(rest)}")
    if args.list or not args.names:
        for name, r in REPRODUCTIONS.items():
            print(f"{name:<22} {r.paper}\n{'':<22} {r.claim}\n")
        return 0
    names = list(REPRODUCTIONS) if args.names == ["all"] else args.names
    unknown = [n for n in names if n not in REPRODUCTIONS]
    if unknown:
        parser.error(f"unknown reproduction(s) {unknown}; available: "
                     f"{', '.join(REPRODUCTIONS)}")
    if args.quick and args.scale != "cpu":
        parser.error("--quick and --scale paper exclude each other")
    if args.workers < 1:
        parser.error(f"--workers must be >= 1, got {args.workers}")
    scale = "quick" if args.quick else args.scale
    flag = {"quick": " --quick", "cpu": "", "paper": " --scale paper"}[scale]
    out = Path(args.out or {"quick": "runs/reproduce-quick/docs", "cpu": "docs/results",
                            "paper": "docs/results/paper"}[scale])
    for name in names:
        repro, start = REPRODUCTIONS[name], time.perf_counter()
        suffix = "" if scale == "cpu" else f"-{scale}"
        ctx = Context(scale, Path(args.runs) / f"{name}{suffix}", args.workers, args.report)
        print(f"== {name}: {repro.claim}", flush=True)
        report = repro.run(ctx)
        path = write_report(repro, report, f"fastweights reproduce {name}{flag}",
                            time.perf_counter() - start, out, ctx)
        print(f"== {name}: {report.verdict}. {report.summary}\n   report: {path}", flush=True)
    return 0
