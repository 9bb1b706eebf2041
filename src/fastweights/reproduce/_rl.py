"""Shared pieces of the RL reproductions: run a grid of RL configs in worker processes
(finished runs reused, killed ones resumed), the return curve with its spread over seeds,
and the synaptic energy of a trained agent along its own evaluation episode."""

from __future__ import annotations

import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from fastweights import envs
from fastweights.analysis.memory_plots import markdown_table, synaptic_energy
from fastweights.analysis.plots import label_axes, save_figure
from fastweights.train.checkpoint import load_checkpoint
from fastweights.train.rl import EVAL_SEED, RLConfig, build_agent, reset_state, train_rl


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


@torch.no_grad()
def agent_energy(run_dir: Path, episodes: int = 8) -> float:
    """Mean synaptic energy per step (``analysis.memory_plots.synaptic_energy``) of the
    agent of a finished run along its own evaluation episodes (the observations it met)."""
    cfg = RLConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    env = envs.make(cfg.env, episodes, EVAL_SEED, **cfg.env_config)
    agent = build_agent(cfg, env)
    agent.load_state_dict(load_checkpoint(run_dir)["model"])
    agent.eval()
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


def plot_curves(curves: dict[str, list[list[dict]]], path: Path, title: str,
                chance: float | None = None, ylabel: str = "return per episode") -> Path:
    """Mean evaluation return over seeds against agent-steps, shaded ± one standard
    deviation over seeds; one line per model; a dashed line at the random policy's return."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for label, seeds in curves.items():
        n = min(len(h) for h in seeds)
        x = np.array([r["agent_steps"] for r in seeds[0][:n]])
        y = np.array([[r["test/return"] for r in h[:n]] for h in seeds])
        mean, std = y.mean(0), y.std(0)
        (line,) = ax.plot(x, mean, label=f"{label} ({len(seeds)} seeds)")
        ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    if chance is not None:
        ax.axhline(chance, color="grey", ls="--", lw=1, label="random policy")
    label_axes(ax, "agent-steps", ylabel, title)
    return save_figure(fig, path)


def criterion_and_results(margin: float, chance: float, table: str, figure: str,
                          summary: str) -> str:
    """The end of both RL reports: the criterion that ``judge`` applies, its table, the
    return curves (``figure``, a file name) and the one-line summary."""
    return ("**Criterion (stated before the run):** with the mean over seeds of each model's "
            "final\nevaluation return (mean of its last 3 evaluations), (a) STPN's is the "
            "highest and above\nthe random policy's "
            f"({chance:.2f} on the same evaluation episodes), (b) STPN has the lowest\n"
            f"energy per step among the models with at least {margin:.0%} of its return.\n"
            "Both: reproduced; one: partly; neither: not reproduced.\n\n## Results\n\n"
            f"{table}\n\n![return curves]({figure})\n\n## What was seen\n\n{summary}")


def judge(results: dict[str, list[dict]], energy: dict[str, list[float]],
          widths: dict[str, int], margin: float, chance: float) -> tuple[str, str, str]:
    """The STPN criterion of both RL reproductions: (a) the STPN's mean final return over
    seeds is the highest and above the random policy's (``chance``), (b) its energy per
    step is the lowest among the models with at least ``margin`` × its return. Returns
    (verdict, one-line summary, Markdown table)."""
    final = {m: [final_return(r["history"]) for r in rs] for m, rs in results.items()}
    ret = {m: float(np.mean(v)) for m, v in final.items()}
    e = {m: float(np.mean(v)) for m, v in energy.items()}
    best = max(ret, key=ret.get)
    # "at least margin × STPN's return", measured from below whatever the sign
    floor = ret["stpn"] - (1 - margin) * abs(ret["stpn"])
    rivals = [m for m in ret if m != "stpn" and ret[m] >= floor]
    wins_return = best == "stpn" and ret["stpn"] > chance
    wins_energy = all(e["stpn"] <= e[m] for m in rivals)
    verdict = ("reproduced" if wins_return and wins_energy else
               "partly reproduced" if wins_return or wins_energy else "not reproduced")
    within = f"within {1 - margin:.0%} of it"
    summary = (("STPN has the highest final return, above chance" if wins_return else
                f"STPN's final return is not the highest ({best}'s is)" if best != "stpn"
                else "STPN's final return is the highest but not above chance") + " and " +
               (f"the lowest energy among the models {within}" if wins_energy else
                f"not the lowest energy among the models {within}") +
               f" (final return STPN {ret['stpn']:.2f}, best {best} {ret[best]:.2f}, random "
               f"policy {chance:.2f}; energy "
               f"per step STPN {e['stpn']:.1f}" + "".join(f", {m} {e[m]:.1f}" for m in rivals)
               + ").")
    # the criterion ranks means; say when the seeds do not separate the top two
    others = [m for m in ret if m != best]
    if others:
        second = max(others, key=ret.get)
        lead, spread = ret[best] - ret[second], max(np.std(final[best]), np.std(final[second]))
        if lead < spread:
            summary += (f" The lead of {best} over {second} ({lead:.2f}) is smaller than the "
                        f"standard deviation over seeds ({spread:.2f}): at this budget the "
                        f"ranking is not resolved.")
    table = markdown_table(
        ["model", "width", "params", "final return (mean ± sd)", "per seed",
         "energy per step", "energy / STPN's", "time per run (s)"],
        [[m, widths[m], results[m][0]["params"], f"{ret[m]:.2f} ± {np.std(final[m]):.2f}",
          ", ".join(f"{v:.1f}" for v in final[m]), f"{e[m]:.1f}", f"{e[m] / e['stpn']:.2f}",
          f"{np.mean([r['time'] for r in results[m]]):.0f}"]
         for m in sorted(ret, key=lambda m: -ret[m])])
    return verdict, summary, table


def run_and_judge(runs: dict[str, RLConfig], models: list[str], seeds: list[int],
                  widths: dict[str, int], margin: float, workdir: Path, workers: int,
                  report_only: bool, png: str, title: str):
    """Train (or load) every run, then judge and plot: the shared body of the RL reports.

    Returns ``(by_model, chance, verdict, summary, table, fig)``."""
    results = run_all(runs, workdir / "runs", workers, report_only)
    by_model = {m: [results[f"{m}-s{s}"] for s in seeds] for m in models}
    energy = {m: [agent_energy(workdir / "runs" / f"{m}-s{s}") for s in seeds]
              for m in models}
    chance = random_return(next(iter(runs.values())))
    verdict, summary, table = judge(by_model, energy, widths, margin, chance)
    fig = plot_curves({f"{m} ({by_model[m][0]['params']:,} params)":
                       [r["history"] for r in by_model[m]] for m in models},
                      workdir / png, chance=chance, title=title)
    return by_model, chance, verdict, summary, table, fig
