"""The MuJoCo inverted pendulum of the STPN paper's robotics experiment (gymnasium's
``InvertedPendulum-v5`` on the ``mujoco`` package; the paper's v2 on mujoco-py is gone), and
its partially observed variant.

Observation (qpos, qvel) = (cart position, pole angle, cart velocity, pole angular
velocity); one continuous action, the force in [−3, 3]; reward 1 per step while the pole is
upright (|angle| ≤ 0.2), episodes cut at 1000 steps. ``velocities=False`` (registry
``pendulum-memory``) observes (cart position, pole angle) only: the velocities must be
inferred from memory. Needs ``pip install 'fastweights[rl]'``; ``cartpole-memory`` is the
dependency-free stand-in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fastweights.envs.base import VecEnv

ENV_ID = "InvertedPendulum-v5"


@dataclass
class PendulumConfig:
    velocities: bool = True


def _time_limit(env):
    from gymnasium.wrappers import TimeLimit

    while not isinstance(env, TimeLimit):
        env = env.env
    return env


def _snapshot(env) -> dict:
    sim = env.unwrapped
    return {"qpos": sim.data.qpos.copy(), "qvel": sim.data.qvel.copy(),
            "rng": sim.np_random.bit_generator.state,
            "elapsed": _time_limit(env)._elapsed_steps}


def _restore(env, state: dict) -> None:
    sim = env.unwrapped
    sim.set_state(np.array(state["qpos"]), np.array(state["qvel"]))
    sim.np_random.bit_generator.state = state["rng"]
    _time_limit(env)._elapsed_steps = state["elapsed"]


def make(num_envs: int = 1, seed: int = 0, config: PendulumConfig | None = None) -> VecEnv:
    from fastweights.envs.gym import GymVecEnv, gymnasium

    config = config or PendulumConfig()
    keep = slice(None) if config.velocities else slice(0, 2)
    try:
        import mujoco  # noqa: F401
    except ImportError:
        raise ImportError("the MuJoCo pendulum needs mujoco: pip install 'fastweights[rl]' "
                          "(or use the dependency-free env cartpole-memory)") from None
    return GymVecEnv(lambda: gymnasium.make(ENV_ID), num_envs, seed,
                     transform=lambda o: np.asarray(o, dtype=np.float32)[keep],
                     snapshot=_snapshot, restore=_restore)
