"""Cue recall: the smallest environment that needs memory, for tests of recurrent agents.

An episode lasts ``delay`` + 2 steps. The first observation shows a cue c ∈ {0, 1} one-hot;
every later observation is (0, 0), with nothing marking the last step. Only the action
taken at the last step is scored: reward 1 when it equals c, else 0. A memoryless policy
sees the same input at every blank step whatever the cue, so its expected return is at most
½; a policy that remembers c and counts the steps since the episode began earns 1 — but
only if its memory is reset when an episode ends (otherwise the count is off).

>>> env = CueRecall(num_envs=1, seed=0, config=CueRecallConfig(delay=1))
>>> env.reset().tolist(), int(env.cue[0])
([[0.0, 1.0]], 1)
>>> [env.step([a])[1].item() for a in (0, 0, 1)]
[0.0, 0.0, 1.0]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fastweights.envs.base import ActionSpace, VecEnv


@dataclass
class CueRecallConfig:
    delay: int = 3

    def __post_init__(self) -> None:
        if self.delay < 0:
            raise ValueError(f"delay must be >= 0, got {self.delay}")


class CueRecall(VecEnv):
    action_space = ActionSpace(discrete=True, n=2)
    obs_size = 2
    state_keys = ("cue",)

    def __init__(self, num_envs: int = 1, seed: int = 0, config: CueRecallConfig | None = None):
        super().__init__(num_envs, seed)
        self.config = config or CueRecallConfig()
        self.max_steps = self.config.delay + 2
        self.cue = np.zeros(num_envs, dtype=np.int64)

    def _reset_rows(self, mask: np.ndarray) -> None:
        self.cue[mask] = self.rng.integers(0, 2, int(mask.sum()))

    def _observe(self) -> np.ndarray:
        obs = np.zeros((self.num_envs, 2), dtype=np.float32)
        first = np.flatnonzero(self.t == 0)
        obs[first, self.cue[first]] = 1.0
        return obs

    def _step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        last = self.t == self.max_steps - 1
        reward = (last & (actions == self.cue)).astype(np.float64)
        return reward, np.zeros(self.num_envs, dtype=bool)
