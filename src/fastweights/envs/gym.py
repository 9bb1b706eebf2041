"""Bridges to gymnasium (the optional extra ``fastweights[rl]``), both ways.

- ``GymVecEnv``: a list of gymnasium environments stepped in lockstep behind our ``VecEnv``
  interface (the MuJoCo pendulum, Atari Pong), with an optional observation transform.
- ``MazeEnv``: our maze as a single gymnasium environment, registered as
  ``fastweights/Maze-v0`` when this module is imported, so
  ``gymnasium.make("fastweights.envs.gym:fastweights/Maze-v0")`` works in any gymnasium code.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fastweights.envs.base import ActionSpace, VecEnv
from fastweights.envs.maze import OBS_SIZE, Maze, MazeConfig

try:
    import gymnasium
except ImportError:
    raise ImportError("this environment needs gymnasium: pip install 'fastweights[rl]'") from None

MAZE_ID = "fastweights/Maze-v0"


class GymVecEnv(VecEnv):
    """``num_envs`` copies of ``make()``, environment i seeded with ``seed · 10⁴ + i`` at its
    first reset. Truncation by the gymnasium time limit ends an episode like termination.

    ``snapshot(env) -> dict`` / ``restore(env, dict)`` save and restore one simulator's state
    for exact resumption; without them ``state_dict`` raises ``NotImplementedError``."""

    def __init__(self, make: Callable[[], gymnasium.Env], num_envs: int = 1, seed: int = 0,
                 transform: Callable[[np.ndarray], np.ndarray] | None = None,
                 snapshot: Callable | None = None, restore: Callable | None = None):
        super().__init__(num_envs, seed)
        self.envs = [make() for _ in range(num_envs)]
        self.transform = transform or (lambda o: np.asarray(o, dtype=np.float32).ravel())
        self.snapshot, self.restore = snapshot, restore
        self.seeds = [seed * 10_000 + i for i in range(num_envs)]
        space = self.envs[0].action_space
        if isinstance(space, gymnasium.spaces.Discrete):
            self.action_space = ActionSpace(discrete=True, n=int(space.n))
        else:
            self.action_space = ActionSpace(discrete=False, dim=int(np.prod(space.shape)),
                                            low=float(space.low.min()),
                                            high=float(space.high.max()))
        self.max_steps = np.iinfo(np.int64).max
        self.last = [None] * num_envs
        self.obs_size = self.transform(self.envs[0].observation_space.sample()).size

    def _reset_rows(self, mask: np.ndarray) -> None:
        for i in np.flatnonzero(mask):
            seed, self.seeds[i] = self.seeds[i], None
            self.last[i] = self.transform(self.envs[i].reset(seed=seed)[0])

    def _observe(self) -> np.ndarray:
        return np.stack(self.last).astype(np.float32)

    def _step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        reward = np.zeros(self.num_envs)
        ended = np.zeros(self.num_envs, dtype=bool)
        for i, env in enumerate(self.envs):
            a = int(actions[i]) if self.action_space.discrete else actions[i]
            obs, reward[i], terminated, truncated, _ = env.step(a)
            self.last[i], ended[i] = self.transform(obs), terminated or truncated
        return reward, ended

    def state_dict(self) -> dict:
        if self.snapshot is None:
            raise NotImplementedError("this gymnasium environment cannot be snapshotted")
        return super().state_dict() | {"sims": [self.snapshot(e) for e in self.envs],
                                       "last": [o.copy() for o in self.last],
                                       "seeds": list(self.seeds)}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        for env, sim in zip(self.envs, state["sims"], strict=True):
            self.restore(env, sim)
        self.last, self.seeds = [np.array(o) for o in state["last"]], list(state["seeds"])

    def close(self) -> None:
        for env in self.envs:
            env.close()


class MazeEnv(gymnasium.Env):
    """One maze as a gymnasium environment: 17 observations, 4 actions, truncated after
    ``episode_length`` steps (never terminated)."""

    metadata = {"render_modes": []}

    def __init__(self, **config):
        self.config = MazeConfig(**config)
        self.maze = Maze(1, 0, self.config)
        # gymnasium semantics: the last step returns the final observation, no auto-reset
        self.maze.max_steps = np.iinfo(np.int64).max
        c = self.config
        self.observation_space = gymnasium.spaces.Box(
            min(0.0, -c.wall_penalty), max(1.0, c.reward), (OBS_SIZE,), np.float32)
        self.action_space = gymnasium.spaces.Discrete(4)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self.maze.rng = np.random.default_rng(seed)
        return self.maze.reset()[0], {}

    def step(self, action):
        obs, reward, _, _ = self.maze.step(np.array([action], dtype=np.int64))
        truncated = bool(self.maze.t[0] >= self.config.episode_length)
        return obs[0], float(reward[0]), False, truncated, {}


def register() -> None:
    if MAZE_ID not in gymnasium.registry:
        gymnasium.register(MAZE_ID, entry_point=MazeEnv)


register()
