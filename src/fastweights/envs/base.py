"""A vector of environments stepped in lockstep, the interface every RL environment here has.

    env = envs.make("maze", num_envs=16, seed=0)
    obs = env.reset()                              # [N, obs_size] float32
    obs, reward, done, info = env.step(actions)    # actions [N] int (discrete) or
                                                   #   [N, action_dim] float (continuous)

``done[i]`` is True when environment i's episode ended with this step (terminated or cut
at ``max_steps``); that environment has already been reset, so ``obs[i]`` is the first
observation of its next episode and a recurrent policy must reset row i of its state before
reading it. ``info["episodes"]`` lists ``(return, length)`` of every episode that ended.
The whole vector's state (positions, counters, random generator) is ``state_dict()``, so a
killed run resumes on exactly the trajectory it would have followed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ActionSpace:
    """Discrete (``n`` actions) or continuous (``dim`` reals in [low, high])."""

    discrete: bool
    n: int = 0
    dim: int = 0
    low: float = -1.0
    high: float = 1.0

    @property
    def size(self) -> int:
        """Outputs a policy head needs: logits (discrete) or means (continuous)."""
        return self.n if self.discrete else self.dim


class VecEnv:
    """Base class: subclasses set ``obs_size``, ``action_space``, ``max_steps`` and implement
    ``_reset_rows(mask) -> None`` (start new episodes in rows ``mask``), ``_observe() ->
    [N, obs_size]`` and ``_step(actions) -> (reward [N], terminated [N])``; they keep their
    per-row state in the arrays named by ``state_keys`` and draw randomness only from
    ``self.rng``."""

    obs_size: int
    action_space: ActionSpace
    max_steps: int
    state_keys: tuple[str, ...] = ()

    def __init__(self, num_envs: int, seed: int = 0):
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.num_envs = num_envs
        self.rng = np.random.default_rng(seed)
        self.t = np.zeros(num_envs, dtype=np.int64)
        self.ret = np.zeros(num_envs, dtype=np.float64)

    def reset(self) -> np.ndarray:
        """Start a new episode in every environment; the first observations."""
        everyone = np.ones(self.num_envs, dtype=bool)
        self._reset_rows(everyone)
        self.t[:], self.ret[:] = 0, 0.0
        return self._observe()

    def step(self, actions) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
        actions = self._check_actions(actions)
        reward, terminated = self._step(actions)
        self.t += 1
        self.ret += reward
        done = terminated | (self.t >= self.max_steps)
        info = {"episodes": [(float(self.ret[i]), int(self.t[i])) for i in np.flatnonzero(done)]}
        if done.any():
            self._reset_rows(done)
            self.t[done], self.ret[done] = 0, 0.0
        return self._observe(), reward.astype(np.float32), done, info

    def _check_actions(self, actions) -> np.ndarray:
        a = np.asarray(actions)
        s = self.action_space
        want = (self.num_envs,) if s.discrete else (self.num_envs, s.dim)
        if a.shape != want:
            raise ValueError(f"actions must have shape {list(want)}, got {list(a.shape)}")
        if s.discrete:
            if not np.issubdtype(a.dtype, np.integer) or a.min() < 0 or a.max() >= s.n:
                raise ValueError(f"discrete actions must be integers in [0, {s.n}), got "
                                 f"{a.dtype} in [{a.min()}, {a.max()}]")
            return a.astype(np.int64)
        return np.clip(a.astype(np.float64), s.low, s.high)

    def state_dict(self) -> dict:
        """Everything the next steps depend on (copies)."""
        keys = ("t", "ret", *self.state_keys)
        return {"rng": self.rng.bit_generator.state} | {k: getattr(self, k).copy() for k in keys}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
        for k in ("t", "ret", *self.state_keys):
            setattr(self, k, np.array(state[k]))

    def close(self) -> None:
        """Release resources (simulators); native environments hold none."""

    def _reset_rows(self, mask: np.ndarray) -> None:
        raise NotImplementedError

    def _observe(self) -> np.ndarray:
        raise NotImplementedError

    def _step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError
