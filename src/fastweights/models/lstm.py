"""LSTM baseline (Hochreiter & Schmidhuber 1997): memory in activations h, c ∈ ℝ^{L×d}.

    i, f, g, o = σ, σ, tanh, σ (W x_t + U h_{t-1} + b)
    c_t = f ⊙ c_{t-1} + i ⊙ g,   h_t = o ⊙ tanh(c_t)

The state is (h, c), each [n_layers, B, d_model]; intermediates are their trajectories.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from fastweights.models.base import ModelConfig, ModelSpec, SequenceModel


@dataclass
class LSTMConfig(ModelConfig):
    d_model: int = 64
    n_layers: int = 1

    def __post_init__(self) -> None:
        if self.d_model < 1 or self.n_layers < 1:
            raise ValueError(f"d_model and n_layers must be >= 1, got {self.d_model}, "
                             f"{self.n_layers}")


@dataclass
class LSTMIntermediates:
    h: Tensor  # [B, T, n_layers, d_model]
    c: Tensor  # [B, T, n_layers, d_model]


class LSTMModel(SequenceModel):
    def __init__(self, config: LSTMConfig):
        super().__init__(config, config.d_model)
        self.lstm = nn.LSTM(config.d_model, config.d_model, config.n_layers, batch_first=True)

    def state_size(self) -> int:
        return 2 * self.config.n_layers * self.config.d_model

    def core(self, h: Tensor, state: tuple[Tensor, Tensor] | None,
             return_intermediates: bool = False) -> tuple:
        if not return_intermediates:
            return self.lstm(h, state)
        outs, hs, cs = [], [], []
        for t in range(h.shape[1]):
            y, state = self.lstm(h[:, t : t + 1], state)
            outs.append(y)
            hs.append(state[0].transpose(0, 1))
            cs.append(state[1].transpose(0, 1))
        inter = LSTMIntermediates(torch.stack(hs, 1), torch.stack(cs, 1))
        return torch.cat(outs, 1), state, inter


SPECS = {"lstm": ModelSpec(LSTMModel, LSTMConfig, "Hochreiter & Schmidhuber 1997")}
