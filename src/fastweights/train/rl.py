"""Actor-critic reinforcement learning for recurrent policies built from any registry model:
A2C (as the STPN maze and Pong experiments) and PPO (as its MuJoCo experiment).

The agent is the registry model read on features (``tokens=False, input_size=obs_size``)
with ``output_size = action_size + 1``: one shared core, whose linear head's first rows are
the policy head (logits, or Gaussian means with a learned state-independent log σ) and whose
last row is the value head V. ``num_envs`` environments step in lockstep; when an episode
ends in environment i, row i of the recurrent state is reset (``ModelState.reset``).

Each update collects a rollout of T = ``rollout`` steps from every environment:

    (π_t, V_t), s_t = agent(o_t, s_{t−1});  a_t ~ π_t;  o_{t+1}, r_t, d_t = env.step(a_t)
    s_t ← reset(s_t, d_t)                                   (rows whose episode ended)
    δ_t = r_t + γ (1 − d_t) V_{t+1} − V_t
    Â_t = δ_t + γλ (1 − d_t) Â_{t+1},   R_t = Â_t + V_t     (GAE; λ = 1: n-step returns)

A2C:  L = mean_t,i [ −log π_t(a_t) Â_t + c_v (R_t − V_t)² + c_e · reg(π_t) ]
PPO:  ρ = π_θ(a_t)/π_old(a_t);  L = mean [ −min(ρ Â, clip(ρ, 1 ± ε) Â) + c_v (R − V)²
      + c_e · reg(π) ], for ``epochs`` passes over ``minibatches`` groups of environments,
      each pass re-running the core over the rollout from the state it started in, with Â
      normalised per minibatch.

reg(π) = −H(π) (``regulariser="entropy"``) or Σ_a π(a)² (``"sumsq"``, the concentration
penalty of Miconi et al.'s and the STPN authors' maze code). Gradients flow through the
recurrent state within a rollout and are cut between rollouts (truncated BPTT; T equal to
the episode length gives full-episode BPTT, the authors' setting). An episode that is cut
by a time limit is treated as terminal (no bootstrap), as in the authors' code.

Evaluation runs ``eval_envs`` fresh environments (a fixed seed, its own sampling generator:
it never disturbs training) for one episode each, and logs the mean return and, for models
whose intermediates define it (the STPN), the energy per step E_t = Σ_ij |G̃_ij| z_j².

Runs: ``train_rl(config, out)`` drives ``RLStep`` (a trainer of the run shell,
``fastweights.train.shell``; a shell step is one update) and so writes the same run folder:
``config.json`` (the RL config under ``rl``, and the command line), ``metrics.jsonl``
(one row per evaluation: ``test/return``, ``test/energy``, ``agent_steps``, ``episodes``,
the losses), ``ckpt.pt``/``ckpt.prev.pt`` (weights, optimiser, environment and recurrent
state, RNG; plain data), ``best.pt``, ``result.json``, plus ``returns.png``; a killed run
resumed with ``resume=True`` ends with the metrics of an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from fastweights import envs, models
from fastweights.models.state import ModelState
from fastweights.train import shell
from fastweights.train.config import Component, TrainConfig
from fastweights.train.errors import TrainingDiverged

ALGOS = ("a2c", "ppo")
REGULARISERS = ("entropy", "sumsq")
EVAL_SEED = 1_000_003  # the test episodes of every evaluation
VAL_SEED = 2_000_003  # validation episodes, for choosing settings (never the test ones)


@dataclass
class RLConfig:
    env: str = "maze"
    model: str = "stpn"
    algo: str = "a2c"
    steps: int = 100_000  # agent-steps: environment steps summed over the vector
    num_envs: int = 16
    rollout: int = 20  # T: steps per environment per update (the BPTT window)
    gamma: float = 0.9
    gae_lambda: float = 1.0
    lr: float = 1e-3
    adam_eps: float = 1e-8
    weight_decay: float = 0.0
    value_coef: float = 0.1
    entropy_coef: float = 0.03
    regulariser: str = "sumsq"
    clip: float = 1.0  # gradient-norm clipping
    ppo_clip: float = 0.2
    epochs: int = 4
    minibatches: int = 4
    eval_every: int = 50  # updates
    eval_envs: int = 16
    seed: int = 0
    threads: int = 1
    model_config: dict = field(default_factory=dict)
    env_config: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("steps", "num_envs", "rollout", "epochs", "minibatches", "eval_every",
                     "eval_envs", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"rl.{name} must be >= 1, got {getattr(self, name)}")
        if self.algo not in ALGOS:
            raise ValueError(f"rl.algo must be one of {ALGOS}, got {self.algo!r}")
        if self.regulariser not in REGULARISERS:
            raise ValueError(f"rl.regulariser must be one of {REGULARISERS}, "
                             f"got {self.regulariser!r}")
        if not 0 <= self.gamma <= 1 or not 0 <= self.gae_lambda <= 1:
            raise ValueError(f"rl.gamma and rl.gae_lambda must be in [0, 1], got "
                             f"{self.gamma}, {self.gae_lambda}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"rl.lr must be a positive finite number, got {self.lr}")
        if self.algo == "ppo" and self.minibatches > self.num_envs:
            raise ValueError(f"rl.minibatches ({self.minibatches}) must be <= rl.num_envs "
                             f"({self.num_envs}): minibatches are groups of environments")

    @property
    def updates(self) -> int:
        return math.ceil(self.steps / (self.num_envs * self.rollout))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RLConfig:
        """From ``to_dict()`` or from a run folder's ``config.json`` (its ``rl`` table)."""
        d = d.get("rl", d)
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in fields})


def reset_state(state: ModelState | None, mask: Tensor) -> ModelState | None:
    """Rows ``mask`` [B] of the recurrent state back to their start values (None: no state
    yet, every row starts fresh anyway)."""
    return state if state is None or not bool(mask.any()) else state.reset(mask)


class Agent(nn.Module):
    """A recurrent policy and value function on one shared core (any model that keeps the
    model contract: ``model(x [B, T, obs], state) -> (y [B, T, action_size + 1], state)``).
    """

    def __init__(self, core: nn.Module, action_space: envs.ActionSpace):
        super().__init__()
        self.core, self.space = core, action_space
        self.log_std = None if action_space.discrete else nn.Parameter(
            torch.zeros(action_space.dim))

    def forward(self, obs: Tensor, state: ModelState | None, intermediates: bool = False):
        """obs [B, obs_size] → (policy outputs [B, action_size], value [B], state[, inter])."""
        y, state, *inter = self.core(obs.unsqueeze(1), state,
                                     **({"return_intermediates": True} if intermediates else {}))
        y = y.squeeze(1)
        return (y[:, :-1], y[:, -1], state, *inter)

    @torch.no_grad()
    def sample(self, out: Tensor, gen: torch.Generator) -> Tensor:
        if self.space.discrete:
            return torch.multinomial(out.softmax(-1), 1, generator=gen).squeeze(1)
        noise = torch.randn(out.shape, generator=gen, dtype=out.dtype)
        return out + self.log_std.exp() * noise

    def log_prob_and_reg(self, out: Tensor, action: Tensor, regulariser: str
                         ) -> tuple[Tensor, Tensor]:
        """log π(a) [B] and the regulariser reg(π) [B] (−entropy or Σ π²)."""
        if self.space.discrete:
            logp = out.log_softmax(-1)
            chosen = logp.gather(1, action.long().unsqueeze(1)).squeeze(1)
            p = logp.exp()
            reg = (p * logp).sum(-1) if regulariser == "entropy" else p.square().sum(-1)
            return chosen, reg
        std = self.log_std.exp()
        chosen = (-0.5 * ((action - out) / std).square() - self.log_std
                  - 0.5 * math.log(2 * math.pi)).sum(-1)
        entropy = (self.log_std + 0.5 * math.log(2 * math.pi * math.e)).sum().expand(len(out))
        return chosen, -entropy


def build_agent(cfg: RLConfig, env: envs.VecEnv) -> Agent:
    core = models.build(cfg.model, tokens=False, input_size=env.obs_size,
                        output_size=env.action_space.size + 1, **cfg.model_config)
    return Agent(core, env.action_space)


def gae(rewards: Tensor, values: Tensor, dones: Tensor, last_value: Tensor, gamma: float,
        lam: float) -> tuple[Tensor, Tensor]:
    """Advantages and returns [T, N] from rewards, values, dones [T, N] and V(o_T) [N]."""
    adv = torch.zeros_like(rewards)
    running = torch.zeros_like(last_value)
    next_value = last_value
    for t in reversed(range(len(rewards))):
        live = 1.0 - dones[t]
        delta = rewards[t] + gamma * live * next_value - values[t]
        running = delta + gamma * lam * live * running
        adv[t] = running
        next_value = values[t]
    return adv, adv + values


@torch.no_grad()
def evaluate_agent(cfg: RLConfig, agent: nn.Module, seed: int) -> dict:
    """One episode in each of ``cfg.eval_envs`` fresh environments seeded by ``seed``
    (``EVAL_SEED``: the test episodes every evaluation uses; ``VAL_SEED``: validation
    episodes for choosing settings): mean return and length, and the mean energy per step
    where the model defines it."""
    env = envs.make(cfg.env, cfg.eval_envs, seed, **cfg.env_config)
    gen = torch.Generator().manual_seed(seed)
    obs, state = torch.from_numpy(env.reset()), None
    running = torch.ones(cfg.eval_envs, dtype=torch.bool)
    returns = torch.zeros(cfg.eval_envs, dtype=torch.float64)
    lengths = torch.zeros(cfg.eval_envs, dtype=torch.long)
    energy, energy_steps = 0.0, 0
    was_training = agent.training
    agent.eval()
    while running.any():
        out, _, state, inter = agent(obs, state, intermediates=True)
        e = getattr(inter, "energy", None)
        if e is not None:
            energy += float(e.reshape(len(obs), -1)[running].sum())
            energy_steps += int(running.sum())
        action = agent.sample(out, gen)
        o, reward, done, _ = env.step(action.numpy())
        obs = torch.from_numpy(o)
        returns += running * torch.from_numpy(reward).double()
        lengths += running.long()
        running &= ~torch.from_numpy(done)
    env.close()
    agent.train(was_training)
    row = {"return": float(returns.mean()), "return_std": float(returns.std()),
           "length": float(lengths.float().mean())}
    if energy_steps:
        row["energy"] = energy / energy_steps
    return row


class RLStep:
    """One RL experiment as a trainer of the run shell (``fastweights.train``):
    ``train_step(step)`` runs one update (rollout + loss + optimiser step) and returns its
    scalars, ``evaluate()`` the evaluation metrics (``test/return``, ``test/energy``, ...);
    ``state_dict()``/``load_state_dict()`` hold everything but the weights that a resumed
    run needs, as plain data."""

    main_metric = "return"
    higher_is_better = True

    def __init__(self, cfg: RLConfig):
        self.cfg = cfg
        torch.manual_seed(cfg.seed)
        self.env = envs.make(cfg.env, cfg.num_envs, cfg.seed, **cfg.env_config)
        self.agent = build_agent(cfg, self.env)
        self.opt = torch.optim.Adam(self.agent.parameters(), lr=cfg.lr, eps=cfg.adam_eps,
                                    weight_decay=cfg.weight_decay)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.obs = torch.from_numpy(self.env.reset())
        self.state = None
        self.agent_steps, self.episodes, self.update = 0, 0, 0
        self.finished: list[float] = []  # returns of the episodes that ended in this update

    @property
    def model(self) -> nn.Module:
        return self.agent

    def _step_env(self, action: Tensor) -> tuple[Tensor, Tensor]:
        obs, reward, done, info = self.env.step(action.numpy())
        self.obs = torch.from_numpy(obs)
        self.agent_steps += self.cfg.num_envs
        self.episodes += len(info["episodes"])
        self.finished += [r for r, _ in info["episodes"]]
        return torch.from_numpy(reward), torch.from_numpy(done)

    def train_step(self, step: int | None = None) -> dict:
        cfg, agent = self.cfg, self.agent
        self.update = self.update + 1 if step is None else step
        self.finished = []
        start_state = None if self.state is None else self.state.detach()
        self.state = start_state
        grad = cfg.algo == "a2c"
        buf = {k: [] for k in ("obs", "action", "logp", "reg", "value", "reward", "done")}
        with torch.set_grad_enabled(grad):
            for _ in range(cfg.rollout):
                out, value, self.state = agent(self.obs, self.state)
                action = agent.sample(out, self.gen)
                logp, reg = agent.log_prob_and_reg(out, action, cfg.regulariser)
                buf["obs"].append(self.obs)
                reward, done = self._step_env(action)
                self.state = reset_state(self.state, done)
                for k, v in (("action", action), ("logp", logp), ("reg", reg),
                             ("value", value), ("reward", reward), ("done", done.float())):
                    buf[k].append(v)
        with torch.no_grad():
            _, last_value, _ = agent(self.obs, self.state)
        roll = {k: torch.stack(v) for k, v in buf.items()}  # [T, N, ...]
        adv, ret = gae(roll["reward"].float(), roll["value"].detach(), roll["done"],
                       last_value, cfg.gamma, cfg.gae_lambda)
        if cfg.algo == "a2c":
            losses = self._a2c_loss(roll, adv, ret)
        else:
            losses = self._ppo(roll, adv, ret, start_state)
        self.state = self.state.detach()
        done = {"train/return": float(np.mean(self.finished))} if self.finished else {}
        return done | {f"train/{k}": v for k, v in losses.items()} | {
            "agent_steps": float(self.agent_steps), "episodes": float(self.episodes)}

    def _apply(self, loss: Tensor) -> float:
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = float(torch.nn.utils.clip_grad_norm_(self.agent.parameters(), self.cfg.clip))
        if not (math.isfinite(loss.item()) and math.isfinite(norm)):
            raise TrainingDiverged(self.update, "loss" if not math.isfinite(loss.item())
                                   else "gradient norm", f"loss {loss.item()}, gradient norm "
                                   f"{norm}; lower rl.lr or rl.clip")
        self.opt.step()
        return norm

    def _a2c_loss(self, roll: dict, adv: Tensor, ret: Tensor) -> dict:
        cfg = self.cfg
        policy = -(roll["logp"] * adv).mean()
        value = (ret - roll["value"]).square().mean()
        reg = roll["reg"].mean()
        loss = policy + cfg.value_coef * value + cfg.entropy_coef * reg
        norm = self._apply(loss)
        return {"loss/policy": policy.item(), "loss/value": value.item(),
                "loss/reg": reg.item(), "grad_norm": norm}

    def _ppo(self, roll: dict, adv: Tensor, ret: Tensor, start_state: ModelState | None
             ) -> dict:
        cfg, agent = self.cfg, self.agent
        groups = torch.arange(cfg.num_envs).chunk(cfg.minibatches)
        order = torch.Generator().manual_seed(cfg.seed * 7919 + self.agent_steps)
        stats: dict[str, list[float]] = {"loss/policy": [], "loss/value": [], "loss/reg": [],
                                         "grad_norm": [], "clip_frac": []}
        for _ in range(cfg.epochs):
            for g in torch.randperm(len(groups), generator=order).tolist():
                idx = groups[g]
                state = None if start_state is None else start_state.select(idx)
                logps, regs, values = [], [], []
                for t in range(cfg.rollout):
                    out, value, state = agent(roll["obs"][t, idx], state)
                    logp, reg = agent.log_prob_and_reg(out, roll["action"][t, idx],
                                                       cfg.regulariser)
                    state = reset_state(state, roll["done"][t, idx].bool())
                    logps.append(logp)
                    regs.append(reg)
                    values.append(value)
                logp, reg, value = torch.stack(logps), torch.stack(regs), torch.stack(values)
                a = adv[:, idx]
                a = (a - a.mean()) / (a.std() + 1e-8)
                ratio = (logp - roll["logp"][:, idx]).exp()
                clipped = ratio.clamp(1 - cfg.ppo_clip, 1 + cfg.ppo_clip)
                policy = -torch.min(ratio * a, clipped * a).mean()
                v_loss = (ret[:, idx] - value).square().mean()
                loss = policy + cfg.value_coef * v_loss + cfg.entropy_coef * reg.mean()
                stats["grad_norm"].append(self._apply(loss))
                stats["loss/policy"].append(policy.item())
                stats["loss/value"].append(v_loss.item())
                stats["loss/reg"].append(reg.mean().item())
                stats["clip_frac"].append(float(((ratio - 1).abs() > cfg.ppo_clip)
                                                .float().mean()))
        return {k: float(np.mean(v)) for k, v in stats.items()}

    def evaluate(self) -> dict:
        """``evaluate_agent`` on the test episodes (``EVAL_SEED``), as ``test/…`` entries."""
        return {f"test/{k}": v for k, v in evaluate_agent(self.cfg, self.agent,
                                                         EVAL_SEED).items()}

    def state_dict(self) -> dict:
        """Tensors, numbers, strings and plain containers only (loadable weights-only)."""
        state = ({"tensors": self.state.tensors, "initial": self.state.initial}
                 if isinstance(self.state, ModelState) else self.state)
        return {"optimizer": self.opt.state_dict(), "gen": self.gen.get_state(),
                "env": _plain(self.env.state_dict()), "obs": self.obs, "state": state,
                "agent_steps": self.agent_steps, "episodes": self.episodes,
                "update": self.update}

    def load_state_dict(self, d: dict) -> None:
        self.opt.load_state_dict(d["optimizer"])
        self.gen.set_state(d["gen"])
        self.env.load_state_dict(_plain(d["env"], back=True))
        state = d["state"]
        if isinstance(state, dict):
            state = ModelState(state["tensors"], state["initial"])
        self.obs, self.state = d["obs"], state
        self.agent_steps, self.episodes, self.update = (d["agent_steps"], d["episodes"],
                                                        d["update"])

    def summary(self) -> dict:
        core = self.agent.core
        return {"env": self.cfg.env, "algo": self.cfg.algo,
                "params": sum(p.numel() for p in self.agent.parameters()),
                "state_size": core.state_size(), "agent_steps": self.agent_steps,
                "config": self.cfg.to_dict()}


def _plain(obj: Any, back: bool = False) -> Any:
    """The numpy arrays inside ``obj`` as tensors, which a weights-only checkpoint holds
    (``back=True``: the tensors as numpy arrays again)."""
    if isinstance(obj, np.ndarray) and not back:
        return torch.from_numpy(obj.copy())
    if isinstance(obj, Tensor) and back:
        return obj.numpy().copy()
    if isinstance(obj, dict):
        return {k: _plain(v, back) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_plain(v, back) for v in obj)
    return obj


class RunSpec:
    """What the run shell (``fastweights.train.shell``) reads of an experiment, for an RL
    config: names for the progress bar, a ``TrainConfig`` whose steps are updates, and the
    record written to ``config.json`` (the model, the environment, the shell's ``train`` table
and the full RL config under ``rl``)."""

    def __init__(self, cfg: RLConfig):
        self.cfg = cfg
        self.model = Component(cfg.model, None)
        self.task = Component(f"{cfg.env} ({cfg.algo})", None)
        self.train = TrainConfig(steps=cfg.updates, eval_every=cfg.eval_every, lr=cfg.lr,
                                 clip=cfg.clip, seed=cfg.seed, threads=cfg.threads)

    def to_dict(self) -> dict:
        c = self.cfg
        # "task" names the environment as "env:NAME", which no supervised task is: the
        # shell then never mistakes an RL run folder for a supervised experiment
        return {"model": {"name": c.model, **c.model_config},
                "task": {"name": f"env:{c.env}", **c.env_config},
                "train": dataclasses.asdict(self.train), "rl": c.to_dict()}


def train_rl(cfg: RLConfig, out: str | Path | None = None, progress: bool = True,
             resume: bool = False, overwrite: bool = False) -> dict:
    """Train ``cfg`` on the run shell; return the run summary (params, state size, time,
    agent-steps, final and history); write ``returns.png`` into the run folder.

    With ``resume``, continue from the run folder's last good checkpoint (or return the
    recorded summary of a finished run). Deterministic per seed on CPU; the global thread
    count and RNG are restored afterwards.
    """
    threads, rng = torch.get_num_threads(), torch.get_rng_state()
    try:
        torch.set_num_threads(cfg.threads)
        trainer = RLStep(cfg)
        try:
            summary = shell.run(trainer, RunSpec(cfg), out, progress, resume, overwrite)
        finally:
            trainer.env.close()
    finally:
        torch.set_num_threads(threads)
        torch.set_rng_state(rng)
    if out is not None:
        plot_returns({cfg.model: summary["history"]}, Path(out) / "returns.png",
                     title=f"{cfg.model} on {cfg.env} ({cfg.algo})")
    return summary


def plot_returns(series: dict[str, list[dict]], path: str | Path, title: str = "") -> Path:
    """Evaluation return (solid) and training return (dashed) against agent-steps."""
    import matplotlib.pyplot as plt

    from fastweights.analysis.plots import label_axes, save_figure

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, rows in series.items():
        x = [r["agent_steps"] for r in rows]
        (line,) = ax.plot(x, [r["test/return"] for r in rows], marker="o", ms=3, label=label)
        train = [(xi, r["train/return"]) for xi, r in zip(x, rows, strict=True)
                 if "train/return" in r]
        if train:
            ax.plot(*zip(*train, strict=True), ls="--", color=line.get_color(), alpha=0.6)
    label_axes(ax, "agent-steps", "return per episode (solid: test, dashed: train)", title)
    return save_figure(fig, path)


def _capped(cfg: RLConfig) -> RLConfig:
    """At most ``$FASTWEIGHTS_MAX_STEPS`` updates (``fastweights.train.config.capped``)."""
    import dataclasses
    import os

    from fastweights.train.config import MAX_STEPS_ENV

    cap = os.environ.get(MAX_STEPS_ENV)
    if not (cap and cap.isdigit() and int(cap) >= 1):
        return cfg
    per_update = cfg.num_envs * cfg.rollout
    return dataclasses.replace(cfg, steps=min(cfg.steps, int(cap) * per_update),
                               eval_every=min(cfg.eval_every, int(cap)))


def cli(argv: list[str]) -> int:
    """``fastweights rl``: train one agent (or resume a run); print its final metrics."""
    import argparse

    from fastweights.train.fields import convert

    p = argparse.ArgumentParser(
        prog="fastweights rl", description="Train a recurrent agent built from a registry "
        "model with A2C or PPO on a vector of environments; the run folder gets config.json, "
        "metrics.jsonl, checkpoints, returns.png and result.json.",
        epilog="Any field can be set with --rl.KEY=VALUE, --model.KEY=VALUE or "
        "--env.KEY=VALUE. Environments: " + ", ".join(
            f"{n} ({s.about})" for n, s in envs.ENVS.items()))
    p.add_argument("--env", help="environment (default maze)")
    p.add_argument("--model", help="registry model (default stpn)")
    p.add_argument("--algo", choices=ALGOS, help="a2c (default) or ppo")
    p.add_argument("--steps", type=int, help="agent-steps, summed over the environments "
                   "(default 100000)")
    p.add_argument("--num-envs", type=int, help="environments in lockstep (default 16)")
    p.add_argument("--rollout", type=int, help="steps per update, the BPTT window (default 20)")
    p.add_argument("--lr", type=float, help="Adam learning rate (default 1e-3)")
    p.add_argument("--eval-every", type=int, help="evaluate every N updates (default 50)")
    p.add_argument("--seed", type=int, help="seed of weights, environments and sampling")
    p.add_argument("--out", help="run folder (default runs/rl-MODEL-ENV-sSEED)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR")
    p.add_argument("--overwrite", action="store_true", help="replace the run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args, rest = p.parse_known_args(argv)
    if args.resume:
        run_dir = Path(args.resume)
        if not (run_dir / "config.json").is_file():
            p.error(f"--resume {run_dir}: no config.json there (not a run folder)")
        if rest or any(v is not None for k, v in vars(args).items()
                       if k not in ("resume", "quiet", "overwrite")):
            p.error("--resume continues a run with its saved config; drop other options")
        cfg = RLConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    else:
        sections: dict[str, dict] = {"rl": {}, "model": {}, "env": {}}
        for arg in rest:
            key, eq, value = arg.removeprefix("--").partition("=")
            section, _, name = key.partition(".")
            if not arg.startswith("--") or not eq or section not in sections or not name:
                p.error(f"unrecognised argument {arg!r}; overrides look like --rl.KEY=VALUE, "
                        f"--model.KEY=VALUE or --env.KEY=VALUE")
            sections[section][name] = value
        flags = {k.replace("-", "_"): v for k, v in vars(args).items()
                 if k not in ("out", "resume", "quiet", "overwrite") and v is not None}
        try:
            rl = convert(RLConfig, sections["rl"], "rl", text=True) | flags
            cfg = _capped(RLConfig(**rl))
            model_cls = models.MODELS[cfg.model].config if cfg.model in models.MODELS else None
            if model_cls is None:
                raise ValueError(f"unknown model {cfg.model!r}; available: "
                                 f"{', '.join(sorted(models.MODELS))}")
            cfg.model_config = convert(model_cls, sections["model"], "model", text=True)
            cfg.env_config = convert(envs.make_config(cfg.env).__class__, sections["env"],
                                     "env", text=True)
            envs.make_config(cfg.env, **cfg.env_config)
        except ValueError as e:
            p.error(str(e))
        run_dir = Path(args.out or f"runs/rl-{cfg.model}-{cfg.env}-s{cfg.seed}")
    try:
        result = train_rl(cfg, run_dir, progress=not args.quiet, resume=bool(args.resume),
                          overwrite=args.overwrite)
    except (ValueError, ImportError) as e:
        p.error(str(e))
    final = {k: round(v, 4) for k, v in result["final"].items() if k.startswith("test/")}
    print(f"{cfg.model} on {cfg.env} ({cfg.algo}): {result['params']:,} params, "
          f"{result['agent_steps']:,} agent-steps, {result['time']:.0f} s, {final}; "
          f"run folder {run_dir}")
    return 0
