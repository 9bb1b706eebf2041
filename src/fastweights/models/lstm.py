"""LSTM baseline (Hochreiter & Schmidhuber 1997): memory in activations h, c ∈ ℝ^{L×d}.

    i, f, g, o = σ, σ, tanh, σ (W x_t + U h_{t-1} + b)
    c_t = f ⊙ c_{t-1} + i ⊙ g,   h_t = o ⊙ tanh(c_t)

The state is ``{"h": [B, n_layers, d_model], "c": [B, n_layers, d_model]}`` (batch-first;
``torch.nn.LSTM``'s own layout is [n_layers, B, d]); intermediates are their trajectories.
With a mask the layer runs step by step and a masked row keeps its (h, c).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from fastweights.layers.cell import keep_masked
from fastweights.models.base import ModelConfig, ModelSpec, SequenceModel, make_encoder


@dataclass
class LSTMConfig(ModelConfig):
    d_model: int = 64
    n_layers: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.d_model < 1 or self.n_layers < 1:
            raise ValueError(f"d_model and n_layers must be >= 1, got {self.d_model}, "
                             f"{self.n_layers}")


@dataclass
class LSTMIntermediates:
    h: Tensor  # [B, T, n_layers, d_model]
    c: Tensor  # [B, T, n_layers, d_model]


class LSTMModel(SequenceModel):
    def __init__(self, config: LSTMConfig):
        super().__init__(config, make_encoder(config, config.d_model),
                         nn.Linear(config.d_model, config.output_size))
        self.lstm = nn.LSTM(config.d_model, config.d_model, config.n_layers, batch_first=True)

    def state_size(self) -> int:
        return 2 * self.config.n_layers * self.config.d_model

    def init_core_state(self, batch: int, device, dtype) -> dict[str, Tensor]:
        c = self.config
        z = torch.zeros(batch, c.n_layers, c.d_model, device=device, dtype=dtype)
        return {"h": z, "c": z}

    def _run(self, h: Tensor, state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        y, (h_n, c_n) = self.lstm(h, (state["h"].transpose(0, 1).contiguous(),
                                      state["c"].transpose(0, 1).contiguous()))
        return y, {"h": h_n.transpose(0, 1), "c": c_n.transpose(0, 1)}

    def core(self, h: Tensor, state: dict[str, Tensor], mask: Tensor | None,
             return_intermediates: bool = False) -> tuple:
        if mask is None and not return_intermediates:
            return self._run(h, state)
        outs, hs, cs = [], [], []
        for t in range(h.shape[1]):
            y, new = self._run(h[:, t : t + 1], state)
            state = keep_masked(new, state, None if mask is None else mask[:, t])
            outs.append(y)
            hs.append(state["h"])
            cs.append(state["c"])
        y = torch.cat(outs, 1) if outs else h.new_zeros(h.shape[0], 0, self.config.d_model)
        if not return_intermediates:
            return y, state
        return y, state, LSTMIntermediates(torch.stack(hs, 1), torch.stack(cs, 1))


SPECS = {"lstm": ModelSpec(LSTMModel, LSTMConfig, "Hochreiter & Schmidhuber 1997")}
