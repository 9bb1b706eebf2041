"""Rodriguez, Guo & Moraitis (2022): in the grid maze of Miconi et al. (2019), the STPN agent
collects more reward than LSTM, differentiable-plasticity and other recurrent agents of the
same size, and uses the least energy.

Setting (the authors' maze script, ``fastweights.envs.maze``): 13 × 13 grid maze, 17 inputs
(3 × 3 view, bias, episode fraction, previous reward, previous action), 4 actions, reward
+10 at the hidden goal then a teleport, wall penalty 0.05, 200-step episodes; A2C with
γ = 0.9, value coefficient 0.1, the concentration penalty 0.03 Σ π², each model's learning
rate chosen from 1e-3, 3e-3, 1e-2 by its median return on validation episodes, plastic weights
clamped at 1 (STPN ``clamp=1``, plastic RNN ``clip=1``). The cells are those the STPN
authors ran here: their Maze wrapper's STPN (``variant="demo"``, Hebbian term on h_{t−1}),
their repository's baseline of Ba et al.'s fast weights (``variant="stpn"``: LayerNorm, tanh,
decay 0.9) and Backpropamine's maze network (the plastic RNN's default). Every model's width
is fitted to about 12k parameters (the paper: STPN 55 hidden units vs LSTM 47, ≈12k).

Criterion, stated before the run: with the median over seeds of each model's final evaluation
return (the mean of its last three evaluations), (a) the STPN's is the highest of the five
models and above the uniformly random policy's on the same evaluation episodes, and (b) the
STPN's synaptic energy per step is the lowest among the models whose final return is at
least 90% of the STPN's. Both → reproduced; one → partly reproduced; neither → not
reproduced.
"""

from __future__ import annotations

from fastweights.models.sizing import fit_width
from fastweights.reproduce._rl import criterion_and_results, run_and_judge, run_name
from fastweights.reproduce.budget import Context
from fastweights.reproduce.report import CountedReport, Report, Reproduction
from fastweights.train.rl import RLConfig

MODELS = ["stpn", "lstm", "plastic-rnn", "fast-weights-ba", "rnn"]
PARAMS = 12_000
MARGIN = 0.9
LRS = (1e-3, 3e-3, 1e-2)  # the paper's 1e-4 learns nothing in this budget (history)
# the cells as the STPN authors ran them in this maze: their Maze wrapper's STPN (the "demo"
# variant: Hebbian term on h_{t-1}) and their repository's Ba baseline; backpropamine's own
# maze network for the plastic RNN (its default variant)
CELLS = {"stpn": {"clamp": 1.0, "variant": "demo"}, "plastic-rnn": {"clip": 1.0},
         "fast-weights-ba": {"variant": "stpn", "decay": 0.9, "activation": "tanh"}}


def _budget(scale: str) -> dict:
    """Budgets by scale: quick (a pipeline check), cpu (the committed report), paper."""
    if scale == "quick":
        return {"steps": 2 * 10 * 4, "num_envs": 2, "rollout": 10, "eval_every": 2,
                "eval_envs": 2, "seeds": [0], "episode_length": 20, "lrs": [3e-3]}
    if scale == "paper":  # whole-episode BPTT, the paper's learning rate, 64k episodes
        return {"steps": 32 * 200 * 2000, "num_envs": 32, "rollout": 200, "eval_every": 100,
                "eval_envs": 32, "seeds": [0, 1, 2], "episode_length": 200, "lrs": [1e-4]}
    return {"steps": 32 * 20 * 150, "num_envs": 32, "rollout": 20, "eval_every": 30,
            "eval_envs": 32, "seeds": [0, 1, 2], "episode_length": 200, "lrs": list(LRS),
            "extend": 1}


def configs(scale: str) -> tuple[dict[str, RLConfig], dict[str, int]]:
    b = _budget(scale)
    sizes = {"input_size": 17, "output_size": 5, "tokens": False}
    widths = {m: fit_width(m, PARAMS, **sizes, **CELLS.get(m, {})) for m in MODELS}
    runs = {}
    for m in MODELS:
        for lr in b["lrs"]:
            for s in b["seeds"]:
                runs[run_name(m, lr, s)] = RLConfig(
                    env="maze", model=m, algo="a2c", steps=b["steps"], num_envs=b["num_envs"],
                    rollout=b["rollout"], gamma=0.9, gae_lambda=1.0, lr=lr, value_coef=0.1,
                    entropy_coef=0.03, regulariser="sumsq", clip=1.0,
                    eval_every=b["eval_every"], eval_envs=b["eval_envs"], seed=s,
                    model_config={"d_model": widths[m], **CELLS.get(m, {})},
                    env_config={"episode_length": b["episode_length"]})
    return runs, widths


def run(ctx: Context) -> Report:
    scale, workdir, workers = ctx.scale, ctx.workdir, ctx.workers
    b = _budget(scale)
    runs, widths = configs(scale)
    out = run_and_judge(
        runs, MODELS, b["seeds"], b["lrs"], widths, MARGIN, workdir, workers, ctx.report_only,
        "stpn_maze_returns.png",
        "grid maze 13×13, A2C: evaluation return (median, min–max over seeds)",
        extend=b.get("extend", 0))
    episodes = b["steps"] // b["episode_length"]
    lrs = ", ".join(f"{x:g}" for x in b["lrs"])
    body = f"""## Setting: paper vs here

| | paper (authors' code) | here |
|---|---|---|
| maze | 13 × 13 grid maze, goal hidden, teleport on reward | same (`fastweights.envs.maze`) |
| inputs | 17: 3×3 view, bias, time, reward, previous action | same |
| episode | 200 steps, reward +10 | {b['episode_length']} steps, reward +10, wall penalty 0.05 |
| algorithm | A2C, γ 0.9, value coef 0.1, 0.03 Σπ² | same |
| BPTT | whole episode | rollouts of {b['rollout']} steps (truncated), n-step returns |
| optimiser | Adam lr 1e-4 | Adam, lr chosen on validation from {lrs}, gradient-norm clip 1 |
| batch | parallel agents per update | {b['num_envs']} environments in lockstep |
| training | many thousands of episodes | {b['steps']:,} agent-steps ({episodes:,} episodes) |
| models | STPN 55 vs LSTM 47 hidden (≈12k params) | widths fitted to {PARAMS:,} params |
| cells | their Maze wrapper's STPN, their Ba baseline | STPN `variant=demo`, Ba `variant=stpn` |
| seeds | several | {', '.join(map(str, b['seeds']))} |

The budget is a CPU one ({len(runs)} runs, {workers} at a time); the paper's agents train two
or more orders of magnitude longer, so this measures the start of learning, not the
converged return.

Energy: E_t = Σ_ij |G_ij| z_j² per step, averaged over each trained agent's own evaluation
episodes (`fastweights.analysis.memory_plots.synaptic_energy`: the STPN's own normalised
G̃ = W + F; for the other models, every weight matrix applied to an input, including the
fast or plastic part; readouts excluded). The STPN's energy is also logged at every
evaluation (`test/energy` in each run's `metrics.jsonl`).

{criterion_and_results(MARGIN, out)}
"""
    return CountedReport(out["verdict"].verdict, out["summary"], body, [out["fig"]],
                         runs=len(runs), seconds=out["seconds"], discussion=out["discussion"])


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
             "Commit 28e6479: the criterion on the mean over seeds, lr 3e-3: reproduced, with "
             "the STPN's lead over the LSTM (0.79) below the standard deviation over seeds "
             "(2.13).",
             "Commit d161243, on medians, with the cells' defaults (STPN variant 'art', the "
             "associative-retrieval net; Ba's fast weights as the paper's equations): not "
             "reproduced, 2 of 3 seeds agree: the plastic RNN first (4.53 [4.12–6.04]), the "
             "STPN fourth (1.62 [1.45–3.87]), Ba's at 0.49 with an energy 700× the STPN's. "
             "The STPN and plastic-RNN cells had changed since 28e6479 (brought to their "
             "authors' code in b2f8e0b; the LSTM's, RNN's and Ba's per-seed returns are "
             "unchanged), and the defaults are not the cells the STPN authors ran in this "
             "maze. Then with their Maze wrapper's STPN and their Ba baseline, still at 3e-3: "
             "partly reproduced (STPN 4.57 [-0.45–5.50], plastic RNN 4.53, Ba 4.42; Ba's "
             "energy below the STPN's), 1 of 3 seeds agree.",
             "Now: the same cells with each model's learning rate chosen from 1e-3, 3e-3, "
             "1e-2 by its median return on validation episodes.",),
)
