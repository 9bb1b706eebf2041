"""Benchmark of the native RL environments: agent-steps per second on one core.

Run as ``fastweights bench envs``. It prints a header (machine, torch, commit, threads),
then a correctness gate per environment (two runs with one seed give the same trajectory,
and a run restored from a mid-way ``state_dict`` continues it exactly), then the speed of
``step`` with uniformly random actions, in agent-steps per second (environment steps summed
over the vector) for several vector sizes, and the bar: the maze, 16 environments in
lockstep (the training default), must step ≥ 10,000 agent-steps per second. An environment
whose gate fails gets no speed column.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from fastweights import envs
from fastweights.bench.ops import header

NATIVE = ("maze", "cartpole-memory", "cue-recall")
BAR, BAR_ENVS = 10_000, 16


def _actions(env: envs.VecEnv, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    s = env.action_space
    if s.discrete:
        return rng.integers(0, s.n, (n, env.num_envs))
    return rng.uniform(s.low, s.high, (n, env.num_envs, s.dim))


def gate(name: str, steps: int = 300) -> bool:
    """Seeded replay and snapshot/restore both reproduce the trajectory exactly."""
    def trace(env, actions):
        return np.concatenate([np.concatenate([np.ravel(x) for x in env.step(a)[:3]])
                               for a in actions])

    a, b, c = (envs.make(name, num_envs=4, seed=s) for s in (7, 7, 8))
    acts = _actions(a, steps)
    for e in (a, b, c):
        e.reset()
    half = steps // 2
    first = trace(a, acts[:half])
    snap = a.state_dict()
    second = trace(a, acts[half:])
    same = np.array_equal(first, trace(b, acts[:half]))
    c.load_state_dict(snap)
    return same and np.array_equal(second, trace(c, acts[half:]))


def speed(name: str, num_envs: int, steps: int) -> float:
    """Agent-steps per second of ``step`` (best of 3 repeats)."""
    env = envs.make(name, num_envs=num_envs, seed=0)
    env.reset()
    acts = _actions(env, steps)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for a in acts:
            env.step(a)
        best = min(best, time.perf_counter() - start)
    return num_envs * steps / best


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="fastweights bench envs", description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--sizes", default="1,16,256", help="vector sizes (default %(default)s)")
    p.add_argument("--steps", type=int, default=2000, help="steps per timing (default "
                   "%(default)s)")
    p.add_argument("--quick", action="store_true", help="a few steps, to test the pipeline")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    sizes = [int(s) for s in args.sizes.split(",")]
    steps = 50 if args.quick else args.steps
    lines = header(args.threads, f"num_envs {sizes}, {steps} steps per timing")
    print("\n".join(["# fastweights bench envs", *lines[1:]]))
    print(f"\n{'env':<18} {'gate':<6} " + " ".join(f"{f'N={n}':>12}" for n in sizes)
          + "   (agent-steps/s)")
    maze_bar = None
    for name in NATIVE:
        ok = gate(name)
        if not ok:
            print(f"{name:<18} {'FAIL':<6} correctness check failed")
            continue
        rates = [speed(name, n, steps) for n in sizes]
        if name == "maze" and BAR_ENVS in sizes:
            maze_bar = rates[sizes.index(BAR_ENVS)]
        print(f"{name:<18} {'ok':<6} " + " ".join(f"{r:>12,.0f}" for r in rates))
    if maze_bar is not None:
        verdict = "meets" if maze_bar >= BAR else "MISSES"
        print(f"\nbar: the maze, {BAR_ENVS} environments in lockstep (the training default), "
              f"steps {maze_bar:,.0f} agent-steps/s on one core; {verdict} the bar of {BAR:,}")
        return 0 if maze_bar >= BAR or args.quick else 1
    return 0
