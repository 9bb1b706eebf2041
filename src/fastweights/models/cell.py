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

Each registry entry's config is the cell's layer config plus ``ModelConfig``'s fields
(``cell_config``); its ``layer`` builds the cell as a stack layer (``layers.cell.CellLayer``).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor, nn

from fastweights.layers.cell import CellLayer, RecurrentCell
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
from fastweights.models.base import ModelConfig, ModelSpec, SequenceModel, make_encoder


class OneHot(nn.Module):
    """Token ids [...] → one-hot rows [..., n] in the module's floating dtype."""

    def __init__(self, n: int):
        super().__init__()
        self.register_buffer("eye", torch.eye(n), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.eye[x]


class CellModel(SequenceModel):
    """A recurrent cell (``type(config).cell``) between a one-hot/identity input and a linear
    readout. Its state (the cell's named tensors) and intermediates are the cell's."""

    def __init__(self, config: ModelConfig):
        # The registry's seeds were fixed when this model first drew an embedding and a head
        # of width d_model that it did not use; drawing them again keeps every seed's model.
        _ = make_encoder(config, config.d_model), nn.Linear(config.d_model, config.output_size)
        encoder = OneHot(config.input_size) if config.tokens else nn.Identity()
        cell = type(config).cell(config.input_size, config)
        super().__init__(config, encoder, nn.Linear(cell.out_size, config.output_size))
        self.cell = cell

    def state_size(self) -> int:
        return self.cell.state_size()

    def init_core_state(self, batch: int, device, dtype) -> dict[str, Tensor]:
        return self.cell.init_state(batch, device, dtype)

    def initial_values(self) -> dict[str, Tensor]:
        return self.cell.initial_values()

    def core(self, h: Tensor, state: dict[str, Tensor], mask: Tensor | None,
             return_intermediates: bool = False) -> tuple:
        return self.cell.scan(h, state, mask=mask, return_intermediates=return_intermediates)


def cell_config(cell: type[RecurrentCell], layer_config: type) -> type[ModelConfig]:
    """The flat model config of a cell: its layer config's fields plus ``ModelConfig``'s."""
    name = cell.__name__ + "ModelConfig"
    cfg = dataclasses.make_dataclass(name, [], bases=(ModelConfig, layer_config))
    cfg.cell, cfg.__module__ = cell, __name__
    globals()[name] = cfg  # importable by name, so configs pickle
    return cfg


def cell_spec(cell: type[RecurrentCell], layer_config: type, paper: str,
              **preset) -> ModelSpec:
    def layer(d_model: int, n_heads: int) -> CellLayer:
        return CellLayer(cell(d_model, layer_config(**(preset | {"d_model": d_model}))),
                         d_model)
    return ModelSpec(CellModel, CONFIGS[layer_config, cell], paper, preset, layer)


CONFIGS = {(c, cell): cell_config(cell, c) for c, cell in [
    (ElmanConfig, ElmanCell), (RecurrentFWPConfig, DeltaRNN),
    (RecurrentFWPConfig, DeltaLSTM), (RDNConfig, RecurrentDeltaNet), (SRWMConfig, SRWM),
    (STPNConfig, STPN), (BaFastWeightsConfig, BaFastWeights),
    (PlasticRNNConfig, PlasticRNN), (TWMConfig, TravelingWaveMemory),
    (WaveRNNConfig, WaveRNN)]}

_IRIE_2021 = "Irie, Schlag, Csordás & Schmidhuber 2021"
_STPN = "Rodriguez, Guo & Moraitis 2022"
_TWM = "Karuvally, Sejnowski & Siegelmann 2024"

SPECS = {
    "delta-rnn": cell_spec(DeltaRNN, RecurrentFWPConfig, _IRIE_2021),
    "delta-lstm": cell_spec(DeltaLSTM, RecurrentFWPConfig, _IRIE_2021),
    "rdn": cell_spec(RecurrentDeltaNet, RDNConfig, _IRIE_2021),
    "srwm": cell_spec(SRWM, SRWMConfig, "Irie, Schlag, Csordás & Schmidhuber 2022"),
    "stpn": cell_spec(STPN, STPNConfig, _STPN, recurrent=True),
    "stpnf": cell_spec(STPN, STPNConfig, _STPN, recurrent=False),
    "fast-weights-ba": cell_spec(BaFastWeights, BaFastWeightsConfig, "Ba et al. 2016"),
    "plastic-rnn": cell_spec(PlasticRNN, PlasticRNNConfig, "Miconi et al. 2018, 2019"),
    "twm": cell_spec(TravelingWaveMemory, TWMConfig, _TWM, boundary="lbc"),
    "twm-sbc": cell_spec(TravelingWaveMemory, TWMConfig, _TWM, boundary="sbc"),
    "wave-rnn": cell_spec(WaveRNN, WaveRNNConfig, "Keller, Muller, Sejnowski & Welling 2024"),
    "rnn": cell_spec(ElmanCell, ElmanConfig, "Elman 1990", nonlinearity="tanh"),
    "irnn": cell_spec(ElmanCell, ElmanConfig, "Le, Jaitly & Hinton 2015",
                      nonlinearity="relu", identity_init=True),
}
