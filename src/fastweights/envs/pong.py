"""Atari Pong, as in the STPN paper's Atari experiment (PongNoFrameskip-v4 there), on ale-py
through gymnasium (``pip install 'fastweights[atari]'``).

``ALE/Pong-v5`` without sticky actions, each action repeated for ``frameskip`` (4) frames,
grayscale; the observation is the playing field (rows 34–193) subsampled every ``stride``
(4) pixels and scaled to [0, 1], flattened into 40 × 40 = 1600 features (the models read
features through a linear encoder rather than the paper's convolutional torso, and no
OpenCV resize is needed). Six actions; reward ±1 per point; an episode is one game.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fastweights.envs.base import VecEnv


@dataclass
class PongConfig:
    frameskip: int = 4
    stride: int = 4

    def __post_init__(self) -> None:
        if self.frameskip < 1 or self.stride < 1:
            raise ValueError(f"frameskip and stride must be >= 1, got {self.frameskip}, "
                             f"{self.stride}")


def make(num_envs: int = 1, seed: int = 0, config: PongConfig | None = None) -> VecEnv:
    from fastweights.envs.gym import GymVecEnv, gymnasium

    c = config or PongConfig()
    try:
        import ale_py
    except ImportError:
        raise ImportError("Pong needs ale-py: pip install 'fastweights[atari]'") from None
    gymnasium.register_envs(ale_py)

    def one():
        return gymnasium.make("ALE/Pong-v5", frameskip=c.frameskip, obs_type="grayscale",
                              repeat_action_probability=0.0)

    def field(frame: np.ndarray) -> np.ndarray:
        return (frame[34:194:c.stride, ::c.stride] / 255.0).astype(np.float32).ravel()

    return GymVecEnv(one, num_envs, seed, transform=field)
