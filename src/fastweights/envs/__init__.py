"""Reinforcement-learning environments by name: ``fastweights.envs.make("maze", num_envs=16,
seed=0, episode_length=200)`` returns a ``VecEnv`` (``fastweights.envs.base``).

Native, vectorised in numpy (no dependency): ``maze`` (Miconi et al.'s grid maze),
``cartpole`` and ``cartpole-memory`` (no velocities), ``cue-recall`` (a memory test).
Through gymnasium (``fastweights[rl]``): ``pendulum`` and ``pendulum-memory`` (MuJoCo
InvertedPendulum, the latter without velocities); ``pong`` (``fastweights[atari]``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from fastweights.envs import cartpole, maze, pendulum, pong, recall
from fastweights.envs.base import ActionSpace, VecEnv


@dataclass(frozen=True)
class EnvSpec:
    make: Callable[..., VecEnv]  # (num_envs, seed, config) -> VecEnv
    config: type
    about: str
    preset: dict = field(default_factory=dict)
    extra: str | None = None  # the pip extra it needs


ENVS: dict[str, EnvSpec] = {
    "maze": EnvSpec(maze.Maze, maze.MazeConfig, "Miconi et al. 2019 grid maze (STPN maze)"),
    "cue-recall": EnvSpec(recall.CueRecall, recall.CueRecallConfig,
                          "recall a cue after a blank delay (memory test)"),
    "cartpole": EnvSpec(cartpole.CartPole, cartpole.CartPoleConfig, "CartPole, full state"),
    "cartpole-memory": EnvSpec(cartpole.CartPole, cartpole.CartPoleConfig,
                               "CartPole without velocities", {"velocities": False}),
    "pendulum": EnvSpec(pendulum.make, pendulum.PendulumConfig,
                        "MuJoCo InvertedPendulum-v5, full state", extra="rl"),
    "pendulum-memory": EnvSpec(pendulum.make, pendulum.PendulumConfig,
                               "MuJoCo InvertedPendulum-v5 without velocities",
                               {"velocities": False}, extra="rl"),
    "pong": EnvSpec(pong.make, pong.PongConfig, "Atari Pong (ale-py)", extra="atari"),
}


def make_config(name: str, **overrides):
    """The config of environment ``name``: its preset, then ``overrides``."""
    if name not in ENVS:
        raise ValueError(f"unknown environment {name!r}; available: {', '.join(ENVS)}")
    spec = ENVS[name]
    fields = {f.name for f in dataclasses.fields(spec.config)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"environment {name!r} has no config field(s) {unknown}; "
                         f"fields: {sorted(fields)}")
    return spec.config(**(spec.preset | overrides))


def make(name: str, num_envs: int = 1, seed: int = 0, **config) -> VecEnv:
    """``num_envs`` copies of environment ``name`` in lockstep, seeded by ``seed``."""
    config = make_config(name, **config)
    return ENVS[name].make(num_envs, seed, config)


__all__ = ["ENVS", "ActionSpace", "EnvSpec", "VecEnv", "make", "make_config"]
