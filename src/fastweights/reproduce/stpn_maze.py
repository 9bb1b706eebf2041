"""Rodriguez, Guo & Moraitis (2022): in the grid maze of Miconi et al. (2019), the STPN agent
collects more reward than LSTM, differentiable-plasticity and other recurrent agents of the
same size, and uses the least energy.

Setting (the authors' maze script, ``fastweights.envs.maze``): 13 × 13 grid maze, 17 inputs
(3 × 3 view, bias, episode fraction, previous reward, previous action), 4 actions, reward
+10 at the hidden goal then a teleport, wall penalty 0.05, 200-step episodes; A2C with
γ = 0.9, value coefficient 0.1, the concentration penalty 0.03 Σ π², plastic weights
clamped at 1 (STPN ``clamp=1``, plastic RNN ``clip=1``). Every model's width is fitted to
about 12k parameters (the paper: STPN 55 hidden units vs LSTM 47, ≈12k).

Criterion, stated before the run: with the median over seeds of each model's final evaluation
return (the mean of its last three evaluations), (a) the STPN's is the highest of the five
models and above the uniformly random policy's on the same evaluation episodes, and (b) the
STPN's synaptic energy per step is the lowest among the models whose final return is at
least 90% of the STPN's. Both → reproduced; one → partly reproduced; neither → not
reproduced.
"""

from __future__ import annotations

from fastweights.models.sizing import fit_width
from fastweights.reproduce._rl import criterion_and_results, run_and_judge
from fastweights.reproduce.budget import Context
from fastweights.reproduce.report import CountedReport, Report, Reproduction
from fastweights.train.rl import RLConfig

MODELS = ["stpn", "lstm", "plastic-rnn", "fast-weights-ba", "rnn"]
PARAMS = 12_000
MARGIN = 0.9
LR = 3e-3  # the paper's 1e-4 learns nothing in this budget; 3e-3 was best of 1e-3, 3e-3, 1e-2
PLASTIC = {"stpn": {"clamp": 1.0}, "plastic-rnn": {"clip": 1.0}}


def _budget(scale: str) -> dict:
    """Budgets by scale: quick (a pipeline check), cpu (the committed report), paper."""
    if scale == "quick":
        return {"steps": 2 * 10 * 4, "num_envs": 2, "rollout": 10, "eval_every": 2,
                "eval_envs": 2, "seeds": [0], "episode_length": 20}
    if scale == "paper":  # whole-episode BPTT, the paper's learning rate, 64k episodes
        return {"steps": 32 * 200 * 2000, "num_envs": 32, "rollout": 200, "eval_every": 100,
                "eval_envs": 32, "seeds": [0, 1, 2], "episode_length": 200, "lr": 1e-4}
    return {"steps": 32 * 20 * 150, "num_envs": 32, "rollout": 20, "eval_every": 30,
            "eval_envs": 32, "seeds": [0, 1, 2], "episode_length": 200}


def configs(scale: str) -> tuple[dict[str, RLConfig], dict[str, int]]:
    b = _budget(scale)
    sizes = {"input_size": 17, "output_size": 5, "tokens": False}
    widths = {m: fit_width(m, PARAMS, **sizes, **PLASTIC.get(m, {})) for m in MODELS}
    runs = {}
    for m in MODELS:
        for s in b["seeds"]:
            runs[f"{m}-s{s}"] = RLConfig(
                env="maze", model=m, algo="a2c", steps=b["steps"], num_envs=b["num_envs"],
                rollout=b["rollout"], gamma=0.9, gae_lambda=1.0, lr=b.get("lr", LR), value_coef=0.1,
                entropy_coef=0.03, regulariser="sumsq", clip=1.0,
                eval_every=b["eval_every"], eval_envs=b["eval_envs"], seed=s,
                model_config={"d_model": widths[m], **PLASTIC.get(m, {})},
                env_config={"episode_length": b["episode_length"]})
    return runs, widths


def run(ctx: Context) -> Report:
    scale, workdir, workers = ctx.scale, ctx.workdir, ctx.workers
    b = _budget(scale)
    runs, widths = configs(scale)
    by_model, chance, verdict, summary, table, fig = run_and_judge(
        runs, MODELS, b["seeds"], widths, MARGIN, workdir, workers, ctx.report_only,
        "stpn_maze_returns.png",
        "grid maze 13×13, A2C: evaluation return (median, min–max over seeds)")
    episodes = b["steps"] // b["episode_length"]
    body = f"""## Setting: paper vs here

| | paper (authors' code) | here |
|---|---|---|
| maze | 13 × 13 grid maze, goal hidden, teleport on reward | same (`fastweights.envs.maze`) |
| inputs | 17: 3×3 view, bias, time, reward, previous action | same |
| episode | 200 steps, reward +10 | {b['episode_length']} steps, reward +10, wall penalty 0.05 |
| algorithm | A2C, γ 0.9, value coef 0.1, 0.03 Σπ² | same |
| BPTT | whole episode | rollouts of {b['rollout']} steps (truncated), n-step returns |
| optimiser | Adam lr 1e-4 | Adam lr {b.get('lr', LR):g}, gradient-norm clip 1 |
| batch | parallel agents per update | {b['num_envs']} environments in lockstep |
| training | many thousands of episodes | {b['steps']:,} agent-steps ({episodes:,} episodes) |
| models | STPN 55 vs LSTM 47 hidden (≈12k params) | widths fitted to {PARAMS:,} params |
| seeds | several | {', '.join(map(str, b['seeds']))} |

The budget is a CPU one: {len(runs)} runs, {workers} at a time, in about a quarter of an
hour; the paper's agents train two or more orders of magnitude longer, so this measures
the start of learning, not the converged return.

Energy: E_t = Σ_ij |G_ij| z_j² per step, averaged over each trained agent's own evaluation
episodes (`fastweights.analysis.memory_plots.synaptic_energy`: the STPN's own normalised
G̃ = W + F; for the other models, every weight matrix applied to an input, including the
fast or plastic part; readouts excluded). The STPN's energy is also logged at every
evaluation (`test/energy` in each run's `metrics.jsonl`).

{criterion_and_results(MARGIN, chance, table, fig.name, verdict.lines())}
"""
    return CountedReport(verdict.verdict, summary, body, [fig], runs=len(runs),
                         seconds=sum(r["time"] for rs in by_model.values() for r in rs))


REPRODUCTION = Reproduction(
    name="stpn-maze",
    paper="Rodriguez, Guo & Moraitis 2022, ICML, arXiv 2206.14048",
    claim="in Miconi et al.'s grid maze (A2C), the STPN agent earns more reward than LSTM, "
          "differentiable plasticity, Ba et al.'s fast weights and an RNN of the same size, "
          "with the least energy",
    run=run,
    history=("lr 1e-3 with rollouts of 50 steps: every model at the random policy's level "
             "after 96k agent-steps; lr 3e-3 with rollouts of 20 learned faster (probes of "
             "LSTM and STPN), so the committed report uses it",
             "Commit 28e6479: the criterion on the mean over seeds: reproduced, with the "
             "STPN's lead over the LSTM (0.79) below the standard deviation over seeds (2.13). "
             "Now the criterion is judged on the medians and on every seed alone (the "
             "statistics of the other reports); the learning rate stays 3e-3 from the probes "
             "above (a grid of 3 would triple 15 runs of ~1.5 min per core).",),
)
