"""``stsp-rnn``: the Dale's-law rate RNN with Tsodyks–Markram synapses of Masse et al. 2019
(``fastweights.layers.stsp``) with their readout from the excitatory units,

    y_t = h_t[:n_E] relu(W_out) + b_out          W_out ~ Gamma(0.1, 1), b_out = 0

and the rate cost of the loss (``rate_loss``, on the intermediates' ``h``). With
``n_networks = P`` it is a population of P independent networks, each reading its own group
of batch rows; ``split_networks`` returns them as P single models.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from fastweights.layers.cell import CellLayer
from fastweights.layers.stsp import STSPRNN, STSPConfig, gamma_weights
from fastweights.models.base import ModelConfig, ModelSpec
from fastweights.models.cell import CellModel


class ExcitatoryReadout(nn.Module):
    """y = h relu(W[p]) + b[p] for the rows of network p: weights from the excitatory units
    stay ≥ 0. h [B, T, n_in] → [B, T, n_out]."""

    def __init__(self, n_in: int, n_out: int, n_networks: int):
        super().__init__()
        self.P = n_networks
        self.weight = nn.Parameter(gamma_weights((n_networks, n_in, n_out), 0.1))
        self.bias = nn.Parameter(torch.zeros(n_networks, n_out))

    def forward(self, h: Tensor) -> Tensor:
        B = h.shape[0]
        y = h.reshape(self.P, -1, h.shape[-1]) @ torch.relu(self.weight) + self.bias[:, None]
        return y.reshape(B, *h.shape[1:-1], y.shape[-1])


class STSPModel(CellModel):
    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self.head = ExcitatoryReadout(self.cell.out_size, config.output_size,
                                      config.n_networks)

    def rate_loss(self, intermediates) -> Tensor:
        """``rate_cost · mean(h²)`` over units, steps and sequences."""
        return self.cell.rate_loss(intermediates.h)


def split_networks(model: STSPModel) -> list[STSPModel]:
    """The P networks of a population as P single-network models (copies, eval mode)."""
    config = dataclasses.replace(model.config, n_networks=1)
    out = []
    for p in range(model.config.n_networks):
        single = STSPModel(config)
        single.load_state_dict({k: v[p:p + 1].clone() for k, v in model.state_dict().items()})
        out.append(single.eval())
    return out


@dataclass
class STSPModelConfig(ModelConfig, STSPConfig):
    cell: ClassVar[type] = STSPRNN


def _layer(d_model: int, n_heads: int) -> CellLayer:
    """The STSP network as a stack layer (its excitatory rates projected to d_model)."""
    return CellLayer(STSPRNN(d_model, STSPConfig(d_model=d_model)), d_model)


SPECS = {
    "stsp-rnn": ModelSpec(STSPModel, STSPModelConfig,
                          "Masse, Yang, Song, Wang & Freedman 2019", {},
                          _layer),
}
