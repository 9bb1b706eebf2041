"""The cell model: one recurrent cell with an input and a readout, as in the STPN, wave and
plasticity papers.

    u_t = onehot(x_t) (``tokens=True``) or x_t (features)          u_t ∈ ℝ^{input_size}
    y_cell_t, state = cell(u_t, state)                             (``fastweights.layers``)
    y_t = W_out y_cell_t + b_out                                   y_t ∈ ℝ^{output_size}

The cell reads the raw one-hot token (or the raw features) rather than a learned embedding:
the cell's own input weights W_x · onehot(x) are the embedding, so parameter counts match the
papers' (the STPN paper compares ~2k-parameter models on 37 input symbols: STPNr with 11
hidden units, an RNN with 20, Ba's fast weights with 20, Miconi's plastic RNN with 17).
``d_model`` is each cell's width (hidden units, or positions for the wave models), the field
``fastweights.models.sizing.fit_width`` varies.

Each registry entry's config is the cell's layer config plus ``ModelConfig``'s fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from fastweights.layers.plasticity import (
    BaFastWeights,
    BaFastWeightsConfig,
    PlasticRNN,
    PlasticRNNConfig,
)
from fastweights.layers.recurrent_fwp import (
    DeltaLSTM,
    DeltaRNN,
    RDNConfig,
    RecurrentDeltaNet,
    RecurrentFWPConfig,
)
from fastweights.layers.rnn import ElmanCell, ElmanConfig
from fastweights.layers.srwm import SRWM, SRWMConfig
from fastweights.layers.stpn import STPN, STPNConfig
from fastweights.layers.waves import TravelingWaveMemory, TWMConfig, WaveRNN, WaveRNNConfig
from fastweights.models.base import ModelConfig, ModelSpec, SequenceModel


class OneHot(nn.Module):
    """Token ids [...] → one-hot rows [..., n] in the module's floating dtype."""

    def __init__(self, n: int):
        super().__init__()
        self.register_buffer("eye", torch.eye(n), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.eye[x]


class CellModel(SequenceModel):
    """A recurrent cell (``type(config).cell``) between a one-hot/identity input and a linear
    readout. Its state and intermediates are the cell's."""

    def __init__(self, config: ModelConfig):
        super().__init__(config, config.d_model)
        self.encoder = OneHot(config.input_size) if config.tokens else nn.Identity()
        self.cell = type(config).cell(config.input_size, config)
        self.head = nn.Linear(self.cell.out_size, config.output_size)

    def state_size(self) -> int:
        return self.cell.state_size()

    def core(self, h: Tensor, state: Any, return_intermediates: bool = False) -> tuple:
        return self.cell(h, state, return_intermediates)


@dataclass
class ElmanModelConfig(ModelConfig, ElmanConfig):
    cell: ClassVar[type] = ElmanCell


@dataclass
class DeltaRNNModelConfig(ModelConfig, RecurrentFWPConfig):
    cell: ClassVar[type] = DeltaRNN


@dataclass
class DeltaLSTMModelConfig(ModelConfig, RecurrentFWPConfig):
    cell: ClassVar[type] = DeltaLSTM


@dataclass
class RDNModelConfig(ModelConfig, RDNConfig):
    cell: ClassVar[type] = RecurrentDeltaNet


@dataclass
class SRWMModelConfig(ModelConfig, SRWMConfig):
    cell: ClassVar[type] = SRWM


@dataclass
class STPNModelConfig(ModelConfig, STPNConfig):
    cell: ClassVar[type] = STPN


@dataclass
class BaFastWeightsModelConfig(ModelConfig, BaFastWeightsConfig):
    cell: ClassVar[type] = BaFastWeights


@dataclass
class PlasticRNNModelConfig(ModelConfig, PlasticRNNConfig):
    cell: ClassVar[type] = PlasticRNN


@dataclass
class TWMModelConfig(ModelConfig, TWMConfig):
    cell: ClassVar[type] = TravelingWaveMemory


@dataclass
class WaveRNNModelConfig(ModelConfig, WaveRNNConfig):
    cell: ClassVar[type] = WaveRNN


_IRIE_2021 = "Irie, Schlag, Csordás & Schmidhuber 2021"
_STPN = "Rodriguez, Guo & Moraitis 2022"
_TWM = "Karuvally, Sejnowski & Siegelmann 2024"

SPECS = {
    "delta-rnn": ModelSpec(CellModel, DeltaRNNModelConfig, _IRIE_2021),
    "delta-lstm": ModelSpec(CellModel, DeltaLSTMModelConfig, _IRIE_2021),
    "rdn": ModelSpec(CellModel, RDNModelConfig, _IRIE_2021),
    "srwm": ModelSpec(CellModel, SRWMModelConfig, "Irie, Schlag, Csordás & Schmidhuber 2022"),
    "stpn": ModelSpec(CellModel, STPNModelConfig, _STPN, {"recurrent": True}),
    "stpnf": ModelSpec(CellModel, STPNModelConfig, _STPN, {"recurrent": False}),
    "fast-weights-ba": ModelSpec(CellModel, BaFastWeightsModelConfig, "Ba et al. 2016"),
    "plastic-rnn": ModelSpec(CellModel, PlasticRNNModelConfig, "Miconi et al. 2018, 2019"),
    "twm": ModelSpec(CellModel, TWMModelConfig, _TWM, {"boundary": "lbc"}),
    "twm-sbc": ModelSpec(CellModel, TWMModelConfig, _TWM, {"boundary": "sbc"}),
    "wave-rnn": ModelSpec(CellModel, WaveRNNModelConfig,
                          "Keller, Muller, Sejnowski & Welling 2024"),
    "rnn": ModelSpec(CellModel, ElmanModelConfig, "Elman 1990", {"nonlinearity": "tanh"}),
    "irnn": ModelSpec(CellModel, ElmanModelConfig, "Le, Jaitly & Hinton 2015",
                      {"nonlinearity": "relu", "identity_init": True}),
}
