"""The grid maze of Miconi et al. (Backpropamine, ICLR 2019, §4.2) as the STPN repository
(Rodriguez, Guo & Moraitis 2022) runs it: a meta-learning task where the memory must hold
where the reward was found.

The maze is ``size`` × ``size`` (13): walls on the border and on every interior cell whose
row and column are both even, except the centre. Each episode draws a hidden goal cell
uniformly among the open cells (fixed for the episode) and starts the agent at the centre.
Actions 0–3 move up, down, left, right; a move into a wall leaves the agent in place and
costs ``wall_penalty``; reaching the goal pays ``reward`` and teleports the agent to a
uniformly drawn open cell other than the goal. Episodes last ``episode_length`` (200) steps,
so the return counts how often the agent finds the goal again: a policy with memory
explores once, then goes back.

Observation (17 floats, the authors' layout):

    [0:9]   the 3×3 neighbourhood, 1 for a wall
    [9]     0 (an input the authors' layout keeps unused)
    [10]    1 (bias)
    [11]    t / episode_length, the fraction of the episode elapsed
    [12]    the previous step's reward
    [13:17] the previous action, one-hot (all zero at the first step)

Differences from the authors' code: the previous-action input is zero at the first step
(theirs marks action 0), and the environments of the vector draw from one seeded numpy
generator (theirs from the global one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fastweights.envs.base import ActionSpace, VecEnv

VIEW = 3
OBS_SIZE = VIEW * VIEW + 4 + 4
MOVES = np.array([[-1, 0], [1, 0], [0, -1], [0, 1]])  # up, down, left, right


@dataclass
class MazeConfig:
    size: int = 13
    episode_length: int = 200
    reward: float = 10.0
    wall_penalty: float = 0.05

    def __post_init__(self) -> None:
        if self.size < 5 or self.size % 2 == 0:
            raise ValueError(f"size must be odd and >= 5, got {self.size}")
        if self.episode_length < 1:
            raise ValueError(f"episode_length must be >= 1, got {self.episode_length}")


def grid(size: int) -> np.ndarray:
    """The wall map [size, size] (1 = wall) of the grid maze."""
    lab = np.ones((size, size), dtype=np.int64)
    lab[1:-1, 1:-1] = 0
    lab[2:-1:2, 2:-1:2] = 1
    lab[size // 2, size // 2] = 0
    return lab


class Maze(VecEnv):
    action_space = ActionSpace(discrete=True, n=4)
    obs_size = OBS_SIZE
    state_keys = ("pos", "goal", "prev_action", "prev_reward")

    def __init__(self, num_envs: int = 1, seed: int = 0, config: MazeConfig | None = None):
        super().__init__(num_envs, seed)
        c = self.config = config or MazeConfig()
        self.max_steps = c.episode_length
        self.lab = grid(c.size)
        self.open = np.argwhere(self.lab == 0)  # [n_open, 2]
        pad = np.pad(self.lab, VIEW // 2, constant_values=1)
        self.views = np.lib.stride_tricks.sliding_window_view(pad, (VIEW, VIEW)).reshape(
            c.size, c.size, VIEW * VIEW).astype(np.float32)
        self.pos = np.zeros((num_envs, 2), dtype=np.int64)
        self.goal = np.zeros((num_envs, 2), dtype=np.int64)
        self.prev_action = np.full(num_envs, -1, dtype=np.int64)
        self.prev_reward = np.zeros(num_envs, dtype=np.float32)

    def _reset_rows(self, mask: np.ndarray) -> None:
        n = int(mask.sum())
        self.pos[mask] = self.config.size // 2
        self.goal[mask] = self.open[self.rng.integers(0, len(self.open), n)]
        self.prev_action[mask] = -1
        self.prev_reward[mask] = 0.0

    def _observe(self) -> np.ndarray:
        obs = np.zeros((self.num_envs, OBS_SIZE), dtype=np.float32)
        obs[:, :VIEW * VIEW] = self.views[self.pos[:, 0], self.pos[:, 1]]
        obs[:, 10] = 1.0
        obs[:, 11] = self.t / self.config.episode_length
        obs[:, 12] = self.prev_reward
        acted = np.flatnonzero(self.prev_action >= 0)
        obs[acted, 13 + self.prev_action[acted]] = 1.0
        return obs

    def _step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c = self.config
        target = self.pos + MOVES[actions]
        wall = self.lab[target[:, 0], target[:, 1]] == 1
        self.pos = np.where(wall[:, None], self.pos, target)
        reward = np.where(wall, -c.wall_penalty, 0.0)
        found = np.flatnonzero((self.pos == self.goal).all(1))
        reward[found] += c.reward
        if len(found):
            # a uniform open cell other than the goal: draw among n_open − 1 and skip the goal
            goal_idx = self._open_index(self.goal[found])
            k = self.rng.integers(0, len(self.open) - 1, len(found))
            self.pos[found] = self.open[k + (k >= goal_idx)]
        self.prev_action = actions.copy()
        self.prev_reward = reward.astype(np.float32)
        return reward, np.zeros(self.num_envs, dtype=bool)

    def _open_index(self, cells: np.ndarray) -> np.ndarray:
        """Index in ``self.open`` (row-major order) of each cell [n, 2]."""
        flat = self.open[:, 0] * self.config.size + self.open[:, 1]
        return np.searchsorted(flat, cells[:, 0] * self.config.size + cells[:, 1])
