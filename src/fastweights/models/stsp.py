"""``stsp-rnn``: the Dale's-law rate RNN with Tsodyks–Markram synapses of Masse et al. 2019
(``fastweights.layers.stsp``) with their readout from the excitatory units,

    y_t = h_t[:n_E] relu(W_out) + b_out          W_out ~ Gamma(0.1, 1), b_out = 0

and the rate cost of the loss (``rate_loss``, on the intermediates' ``h``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from fastweights.layers.stsp import STSPRNN, STSPConfig
from fastweights.models.base import ModelConfig, ModelSpec
from fastweights.models.cell import CellModel


class ExcitatoryReadout(nn.Module):
    """y = h relu(W) + b: a readout whose weights from the excitatory units stay ≥ 0."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.distributions.Gamma(0.1, 1.0).sample((n_in, n_out)))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, h: Tensor) -> Tensor:
        return h @ torch.relu(self.weight) + self.bias


class STSPModel(CellModel):
    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self.head = ExcitatoryReadout(self.cell.out_size, config.output_size)

    def rate_loss(self, intermediates) -> Tensor:
        """``rate_cost · mean(h²)`` over units, steps and sequences."""
        return self.cell.rate_loss(intermediates.h)


@dataclass
class STSPModelConfig(ModelConfig, STSPConfig):
    cell: ClassVar[type] = STSPRNN


SPECS = {
    "stsp-rnn": ModelSpec(STSPModel, STSPModelConfig,
                          "Masse, Yang, Song, Wang & Freedman 2019", {"tokens": False}),
}
