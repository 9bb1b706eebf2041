"""Speed and memory benchmarks, each gated on correctness: ``fastweights bench <name> ...``.

``BENCHMARKS`` maps a name to a ``main(argv) -> int``; :func:`main` dispatches on argv[0].
"""

from __future__ import annotations

import argparse

from fastweights.bench import envs, models, ops, tune

BENCHMARKS = {"envs": envs.main, "models": models.main, "ops": ops.main, "tune": tune.main}


def main(argv: list[str]) -> int:
    """Run one benchmark: ``main(["ops", "--threads", "2"])``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="fastweights bench",
                                     description="Speed/memory benchmarks, gated on correctness.")
    parser.add_argument("name", choices=sorted(BENCHMARKS), help="which benchmark to run")
    parser.add_argument("args", nargs=argparse.REMAINDER,
                        help="the benchmark's own options (see `fastweights bench NAME -h`)")
    ns = parser.parse_args(argv)
    return BENCHMARKS[ns.name](ns.args)


__all__ = ["BENCHMARKS", "main"]
