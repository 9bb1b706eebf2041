"""Shared pieces of the RL reproductions: run a grid of RL configs in worker processes
(finished runs reused, killed ones resumed), the STPN criterion judged on medians over seeds
with the seeds that agree, the return curves (median, min–max band), and the synaptic
energy of a trained agent along its own evaluation episode."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from fastweights import envs
from fastweights.analysis.memory_plots import markdown_table, synaptic_energy
from fastweights.reproduce.criterion import Check, Verdict
from fastweights.reproduce.criterion import judge as judge_checks
from fastweights.reproduce.grid import choose_lr
from fastweights.reproduce.plots import plot_curves
from fastweights.reproduce.stats import Spread
from fastweights.train.checkpoint import load_checkpoint
from fastweights.train.rl import (
    EVAL_SEED,
    VAL_SEED,
    RLConfig,
    build_agent,
    evaluate_agent,
    reset_state,
    train_rl,
)


def _one(cfg: RLConfig, run_dir: Path) -> dict:
    return train_rl(cfg, run_dir, progress=False, resume=True)


def run_all(runs: dict[str, RLConfig], root: Path, workers: int,
            report_only: bool = False) -> dict[str, dict]:
    """Train every config (name → config) into ``root/name``, ``workers`` at a time; return
    each run's summary. ``report_only``: train nothing, every run must have finished."""
    start, out = time.perf_counter(), {}
    missing = [root / n for n in runs if not (root / n / "result.json").exists()]
    if report_only and missing:
        raise ValueError(f"--report needs finished runs; {len(missing)} missing, e.g. "
                         f"{missing[0]}")

    def report(name: str, r: dict) -> None:
        out[name] = r
        print(f"  {name:<28} eval return {r['final']['test/return']:8.2f} "
              f"({r['agent_steps']:,} agent-steps, {r['time']:.0f} s; "
              f"{time.perf_counter() - start:.0f} s elapsed)", flush=True)

    if workers <= 1:
        for name, cfg in runs.items():
            report(name, _one(cfg, root / name))
        return out
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = {name: pool.submit(_one, cfg, root / name) for name, cfg in runs.items()}
        for name, fut in futures.items():
            report(name, fut.result())
    return out


def final_return(history: list[dict], last: int = 3) -> float:
    """Mean evaluation return over the last ``last`` evaluations (less noisy than one)."""
    return float(np.mean([r["test/return"] for r in history[-last:]]))


def _trained_agent(run_dir: Path, n_envs: int, seed: int):
    """(config, environments, the trained agent in eval mode) of a finished run."""
    cfg = RLConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    env = envs.make(cfg.env, n_envs, seed, **cfg.env_config)
    agent = build_agent(cfg, env)
    agent.load_state_dict(load_checkpoint(run_dir)["model"])
    return cfg, env, agent.eval()


@torch.no_grad()
def agent_energy(run_dir: Path, episodes: int = 8) -> float:
    """Mean synaptic energy per step (``analysis.memory_plots.synaptic_energy``) of the
    agent of a finished run along its own evaluation episodes (the observations it met)."""
    _, env, agent = _trained_agent(run_dir, episodes, EVAL_SEED)
    gen = torch.Generator().manual_seed(EVAL_SEED)
    obs, state, seen = torch.from_numpy(env.reset()), None, []
    length = getattr(env, "max_steps", 200)
    for _ in range(min(length, 1000)):
        seen.append(obs)
        out, _, state = agent(obs, state)
        o, _, done, _ = env.step(agent.sample(out, gen).numpy())
        obs = torch.from_numpy(o)
        state = reset_state(state, torch.from_numpy(done))
        if done.any():
            break
    env.close()
    return synaptic_energy(agent.core, torch.stack(seen, 1))


def validation_return(run_dir: Path) -> float:
    """Mean return of a finished run's agent on the validation episodes (``VAL_SEED``, not
    the test episodes its evaluations use): the score that chooses the learning rate."""
    cfg, env, agent = _trained_agent(run_dir, 1, VAL_SEED)
    env.close()
    return evaluate_agent(cfg, agent, VAL_SEED)["return"]


def random_return(cfg: RLConfig) -> float:
    """Mean return of the uniformly random policy on the evaluation episodes of ``cfg``
    (the same environments and seed as ``RLStep.evaluate``): the chance level."""
    env = envs.make(cfg.env, cfg.eval_envs, EVAL_SEED, **cfg.env_config)
    rng = np.random.default_rng(EVAL_SEED)
    env.reset()
    running = np.ones(cfg.eval_envs, dtype=bool)
    total = np.zeros(cfg.eval_envs)
    s = env.action_space
    while running.any():
        a = (rng.integers(0, s.n, cfg.eval_envs) if s.discrete
             else rng.uniform(s.low, s.high, (cfg.eval_envs, s.dim)))
        _, reward, done, _ = env.step(a)
        total += running * reward
        running &= ~done
    env.close()
    return float(total.mean())


def criterion_and_results(margin: float, out: dict) -> str:
    """The end of both RL reports, from ``run_and_judge``'s result: the criterion that
    ``judge`` applies, each check's outcome, the learning-rate grid, the table at the chosen
    rates and the return curves."""
    edges = (f" Still best at an edge of the grid after its extension: "
             f"{', '.join(out['edges'])}." if out["edges"] else "")
    return ("**Criterion (stated before the run):** with the median over seeds of each "
            "model's final\nevaluation return (mean of its last 3 evaluations), (a) STPN's is "
            "the highest and above\nthe random policy's "
            f"({out['chance']:.2f} on the same evaluation episodes), (b) STPN has the lowest\n"
            f"median energy per step among the models with at least {margin:.0%} of its "
            "return.\nBoth: reproduced; one: partly; neither: not reproduced. Each check is "
            "also judged\non every seed alone (models paired by seed), to say how many seeds "
            "agree.\n\n## Results\n\n"
            f"{out['verdict'].lines()}\n\n{out['table']}\n\n![return curves]"
            f"({out['fig'].name})\n\nMedian over seeds with the min–max band; the dotted line "
            "is the random policy's return.\n\n### Learning rates\n\nEach model's rate is "
            "chosen by the median over seeds of its final agent's return on validation "
            "episodes (another environment seed than the test episodes that every evaluation "
            "and the table above use); a model best at an edge of the grid gets the next rate "
            f"beyond it.{edges}\n\n{out['lr_table']}")


def judge(results: dict[str, list[dict]], energy: dict[str, list[float]],
          widths: dict[str, int], margin: float, chance: float,
          seeds: list[int]) -> tuple[Verdict, str, str, str]:
    """The STPN criterion of both RL reproductions, on medians over seeds
    (``criterion.judge``): (a) the STPN's final return is the highest and above the random
    policy's (``chance``), (b) its energy per step is the lowest among the models with at
    least ``margin`` × its return. Returns (verdict, one-line summary, Markdown table, a
    discussion when the seeds do not separate the first two models)."""
    final = {m: [final_return(r["history"]) for r in rs] for m, rs in results.items()}
    m = {k: {"return": dict(zip(seeds, final[k], strict=True)),
             "energy": dict(zip(seeds, energy[k], strict=True))} for k in results}
    others = [k for k in results if k != "stpn"]

    def rivals(v) -> list[str]:
        # "at least margin × STPN's return", measured from below whatever the sign
        floor = v("stpn", "return") - (1 - margin) * abs(v("stpn", "return"))
        return [k for k in others if v(k, "return") >= floor]

    checks = [
        Check("STPN's final return is the highest of the models and above the random "
              f"policy's ({chance:.2f})",
              lambda v: all(v("stpn", "return") >= v(k, "return") for k in others)
              and v("stpn", "return") > chance,
              lambda v: ", ".join(f"{k} {v(k, 'return'):.2f}"
                                  for k in sorted(results, key=lambda k: -v(k, "return")))),
        Check(f"STPN's energy per step is the lowest among the models within "
              f"{1 - margin:.0%} of its return",
              lambda v: all(v("stpn", "energy") <= v(k, "energy") for k in rivals(v)),
              lambda v: f"STPN {v('stpn', 'energy'):.1f}" + "".join(
                  f", {k} {v(k, 'energy'):.1f}" for k in rivals(v))
              + ("" if rivals(v) else "; no model within")),
    ]
    verdict = judge_checks(checks, m)
    ret = {k: Spread.of(final[k]) for k in results}
    e = {k: Spread.of(energy[k]) for k in results}
    order = sorted(results, key=lambda k: -ret[k].median)
    summary = ("Final return, median [min–max] over seeds: " + ", ".join(
        f"{k} {ret[k]:.2f}" for k in order) + f" (random policy {chance:.2f}); energy per step "
        + ", ".join(f"{k} {e[k]:.1f}" for k in order) + f"; {verdict.agreement()}.")
    table = markdown_table(
        ["model", "width", "params", "final return, median [min–max]", "per seed",
         "energy per step", "energy / STPN's (medians)", "time per run (s)"],
        [[k, widths[k], results[k][0]["params"], f"{ret[k]:.2f}",
          ", ".join(f"{v:.1f}" for v in final[k]), f"{e[k]:.1f}",
          f"{e[k].median / e['stpn'].median:.2f}",
          f"{np.mean([r['time'] for r in results[k]]):.0f}"]
         for k in order])
    first, second = order[:2]
    discussion = ""
    if ret[second].hi >= ret[first].lo:  # the seeds' ranges overlap: say so
        discussion = (f"The median lead of {first} over {second} is "
                      f"{ret[first].median - ret[second].median:.2f}, and their seeds' ranges "
                      f"overlap ({first} {ret[first]:.2f}, {second} {ret[second]:.2f}): at "
                      f"this budget the ranking of the two is not resolved.")
    return verdict, summary, table, discussion


def run_name(model: str, lr: float, seed: int) -> str:
    """The folder of one RL run of a reproduction's grid."""
    return f"{model}-lr{lr:g}-s{seed}"


def lr_table(val: dict[str, dict[float, list[float]]], test: dict[str, dict[float, list[float]]],
             chosen: dict[str, float]) -> str:
    """Every model × learning rate: validation return (median over seeds; ★ = chosen) and
    the final test return, median [min–max]."""
    return markdown_table(
        ["model", "lr", "seeds", "validation return (median)", "final return"],
        [[m, f"{lr:g}" + (" ★" if lr == chosen[m] else ""), len(val[m][lr]),
          f"{Spread.of(val[m][lr]).median:.2f}", f"{Spread.of(test[m][lr]):.2f}"]
         for m in val for lr in sorted(val[m])])


def run_and_judge(runs: dict[str, RLConfig], models: list[str], seeds: list[int],
                  lrs: list[float], widths: dict[str, int], margin: float, workdir: Path,
                  workers: int, report_only: bool, png: str, title: str,
                  extend: int = 0) -> dict:
    """Train (or load) every run (``run_name`` keys), choose each model's learning rate by
    the median over seeds of its validation return, then judge and plot the runs at the
    chosen rates: the shared body of the RL reports. A model whose best rate is at an edge
    of its grid gets the next rate beyond it (``grid.choose_lr``), up to ``extend`` times.
    Returns a dict with ``by_model``, ``chance``, ``verdict``, ``summary``, ``table`` (at the
    chosen rates), ``lr_table``, ``edges`` (models still best at an edge), ``fig``,
    ``discussion`` and ``seconds`` (training time summed over every run)."""
    grids = {m: sorted(lrs) for m in models}
    results: dict[str, dict] = {}
    val: dict[str, dict[float, list[float]]] = {m: {} for m in models}
    pending = dict(runs)
    for round_ in range(extend + 1):
        results |= run_all(pending, workdir / "runs", workers, report_only)
        for m in models:
            for lr in grids[m]:
                val[m].setdefault(lr, [validation_return(workdir / "runs" / run_name(m, lr, s))
                                       for s in seeds])
        chosen, beyond = {}, {}
        for m in models:
            chosen[m], beyond[m] = choose_lr({lr: Spread.of(v).median
                                              for lr, v in val[m].items()})
        pending = {run_name(m, b, s): dataclasses.replace(runs[run_name(m, lrs[0], s)], lr=b)
                   for m, b in beyond.items() if b is not None for s in seeds}
        if round_ == extend or not pending:
            break
        for m, b in beyond.items():
            if b is not None:
                grids[m] = sorted([*grids[m], b])
    edges = [m for m in models if beyond[m] is not None]
    test = {m: {lr: [final_return(results[run_name(m, lr, s)]["history"]) for s in seeds]
                for lr in grids[m]} for m in models}
    by_model = {m: [results[run_name(m, chosen[m], s)] for s in seeds] for m in models}
    energy = {m: [agent_energy(workdir / "runs" / run_name(m, chosen[m], s)) for s in seeds]
              for m in models}
    chance = random_return(next(iter(runs.values())))
    verdict, summary, table, discussion = judge(by_model, energy, widths, margin, chance, seeds)
    fig = plot_curves({f"{m} lr {chosen[m]:g} ({by_model[m][0]['params']:,} params)":
                       [r["history"] for r in by_model[m]] for m in models}, "test/return",
                      workdir / png, "return per episode", title, threshold=chance,
                      x="agent_steps")
    return {"by_model": by_model, "chance": chance, "verdict": verdict, "summary": summary,
            "seconds": sum(r["time"] for r in results.values()), "table": table,
            "lr_table": lr_table(val, test, chosen), "edges": edges, "fig": fig,
            "discussion": discussion}
