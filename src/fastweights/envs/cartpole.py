"""CartPole (Barto, Sutton & Anderson 1983), vectorised in numpy with gymnasium's
CartPole-v1 dynamics, and its partially observed variant without velocities: the
dependency-free stand-in for the MuJoCo inverted pendulum.

State (x, ẋ, θ, θ̇); action 0 pushes left, 1 right with force F = ±10 N; explicit Euler with
τ = 0.02 s:

    θ̈ = (g sin θ − cos θ · (F + m_p l θ̇² sin θ) / M) / (l (4/3 − m_p cos²θ / M))
    ẍ = (F + m_p l θ̇² sin θ) / M − m_p l θ̈ cos θ / M          M = m_c + m_p

with g = 9.8, m_c = 1, m_p = 0.1, l = 0.5. Reward 1 per step; the episode terminates when
|x| > 2.4 or |θ| > 12°, and is cut at ``max_steps`` (500). Every state variable starts
uniform in ±0.05. ``velocities=False`` (registry ``cartpole-memory``) observes (x, θ) only,
so a policy must infer the velocities from what it remembers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fastweights.envs.base import ActionSpace, VecEnv

GRAVITY, CART_MASS, POLE_MASS, HALF_LENGTH, FORCE, TAU = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
X_LIMIT, THETA_LIMIT = 2.4, 12 * 2 * np.pi / 360


@dataclass
class CartPoleConfig:
    velocities: bool = True
    max_steps: int = 500

    def __post_init__(self) -> None:
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps}")


class CartPole(VecEnv):
    action_space = ActionSpace(discrete=True, n=2)
    state_keys = ("s",)

    def __init__(self, num_envs: int = 1, seed: int = 0, config: CartPoleConfig | None = None):
        super().__init__(num_envs, seed)
        self.config = config or CartPoleConfig()
        self.max_steps = self.config.max_steps
        self.obs_size = 4 if self.config.velocities else 2
        self.s = np.zeros((num_envs, 4))

    def _reset_rows(self, mask: np.ndarray) -> None:
        self.s[mask] = self.rng.uniform(-0.05, 0.05, (int(mask.sum()), 4))

    def _observe(self) -> np.ndarray:
        cols = [0, 1, 2, 3] if self.config.velocities else [0, 2]
        return self.s[:, cols].astype(np.float32)

    def _step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, x_dot, th, th_dot = self.s.T
        force = np.where(actions == 1, FORCE, -FORCE)
        total = CART_MASS + POLE_MASS
        cos, sin = np.cos(th), np.sin(th)
        tmp = (force + POLE_MASS * HALF_LENGTH * th_dot ** 2 * sin) / total
        th_acc = (GRAVITY * sin - cos * tmp) / (
            HALF_LENGTH * (4.0 / 3.0 - POLE_MASS * cos ** 2 / total))
        x_acc = tmp - POLE_MASS * HALF_LENGTH * th_acc * cos / total
        self.s = np.stack([x + TAU * x_dot, x_dot + TAU * x_acc,
                           th + TAU * th_dot, th_dot + TAU * th_acc], 1)
        terminated = (np.abs(self.s[:, 0]) > X_LIMIT) | (np.abs(self.s[:, 2]) > THETA_LIMIT)
        return np.ones(self.num_envs), terminated
