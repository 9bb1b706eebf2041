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
    DeltaLSTMConfig,
    DeltaRNN,
    DeltaRNNConfig,
    RDNConfig,
    RecurrentDeltaNet,
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
    (ElmanConfig, ElmanCell), (DeltaRNNConfig, DeltaRNN),
    (DeltaLSTMConfig, DeltaLSTM), (RDNConfig, RecurrentDeltaNet), (SRWMConfig, SRWM),
    (STPNConfig, STPN), (BaFastWeightsConfig, BaFastWeights),
    (PlasticRNNConfig, PlasticRNN), (TWMConfig, TravelingWaveMemory),
    (WaveRNNConfig, WaveRNN)]}

_IRIE_2021 = "Irie, Schlag, Csordás & Schmidhuber 2021"
_STPN = "Rodriguez, Guo & Moraitis 2022"
_TWM = "Karuvally, Sejnowski & Siegelmann 2024"

SPECS = {
    "delta-rnn": cell_spec(DeltaRNN, DeltaRNNConfig, _IRIE_2021),
    "delta-lstm": cell_spec(DeltaLSTM, DeltaLSTMConfig, _IRIE_2021),
    "rdn": cell_spec(RecurrentDeltaNet, RDNConfig, _IRIE_2021),
    "srwm": cell_spec(SRWM, SRWMConfig, "Irie, Schlag, Csordás & Schmidhuber 2022"),
    "stpn": cell_spec(STPN, STPNConfig, _STPN, recurrent=True),
    "stpnf": cell_spec(STPN, STPNConfig, _STPN, recurrent=False, norm="none", bias=False),
    "fast-weights-ba": cell_spec(BaFastWeights, BaFastWeightsConfig, "Ba et al. 2016"),
    "plastic-rnn": cell_spec(PlasticRNN, PlasticRNNConfig, "Miconi et al. 2018, 2019"),
    "twm": cell_spec(TravelingWaveMemory, TWMConfig, _TWM, boundary="lbc"),
    "twm-sbc": cell_spec(TravelingWaveMemory, TWMConfig, _TWM, boundary="sbc"),
    "wave-rnn": cell_spec(WaveRNN, WaveRNNConfig, "Keller, Muller, Sejnowski & Welling 2024"),
    "rnn": cell_spec(ElmanCell, ElmanConfig, "Elman 1990", nonlinearity="tanh"),
    "irnn": cell_spec(ElmanCell, ElmanConfig, "Le, Jaitly & Hinton 2015",
                      nonlinearity="relu", identity_init=True),
}

# Each name's versions of the authors' code: label → (config overrides, what it is). The
# first is the registry default (its overrides are the preset); the layer modules' docstrings
# name the file and commit each follows. ``fastweights models --variants`` prints this.
VARIANTS: dict[str, dict[str, tuple[dict, str]]] = {
    "stpn": {
        "art": ({}, "associative-retrieval net: Hebbian term on [x_t; h_t] (run_art.py)"),
        "demo": ({"variant": "demo"}, "Hebbian term on [x_t; h_{t-1}] (simple_script.py, Maze)"),
        "legacy": ({"variant": "legacy"}, "earlier cell: h_{t-1}, gamma ~ 1e-3 U(+-1)"),
    },
    "stpnf": {
        "art": ({}, "no bias, F not normalised (STPNF, ART_STPNf_h13.json)"),
        "legacy": ({"variant": "legacy", "norm": "before", "bias": True},
                   "earlier cell: bias, F / ||G|| before the update"),
    },
    "delta-rnn": {
        "lm": ({}, "ELU+1 sum-normalised q, k; 4 heads (CudaFastRNNv2Layer, LM)"),
        "rl": ({"variant": "rl", "n_heads": 1},
               "softmax q, k as the RL layer, one head, a slow bias (earlier cell)"),
    },
    "delta-lstm": {
        "v4": ({}, "identity candidate, ELU+1 q, k, a query per gate (LM, Table 2)"),
        "v2": ({"variant": "v2"},
               "sigmoid candidate, softmax q, k, one shared query, bias (earlier cell)"),
    },
    "srwm": {
        "formal": ({}, "W_q rows std 0.01/sqrt(d), beta rows mean -1 (fwp-formal-lang)"),
        "fewshot": ({"init": "fewshot"}, "beta rows mean -1 (modern-srwm supervised)"),
        "normal": ({"init": "normal"}, "every row N(0, 1/d) (modern-srwm RL; earlier cell)"),
    },
    "wave-rnn": {
        "authors": ({}, "full c x c x 3 circular conv, 'fwd' init, W_x ~ N(0, 0.001^2)"),
        "solo": ({"variant": "solo"}, "as authors, with the sweeps' solo_init (input at pos. 0)"),
        "depthwise": ({"variant": "depthwise"}, "per-channel kernel, mirrored shift (earlier)"),
    },
    "fast-weights-ba": {
        "paper": ({}, "Ba et al.'s equations (no code released)"),
        "stpn": ({"variant": "stpn", "decay": 0.9, "activation": "tanh"},
                 "STPN repository's baseline: LayerNorm on h0, two updates per step"),
    },
    **{name: {"fla": ({}, f"phi = the q/k short convolution's SiLU alone (fla's {layer})"),
              "two-silus": ({"feature_map": "silu"},
                            "SiLU again after the conv's (earlier preset)")}
       for name, layer in (("deltanet", "DeltaNet layer"), ("gated-deltanet", "GatedDeltaNet"),
                           ("deltaproduct", "GatedDeltaProduct"))},
    "plastic-rnn": {
        "maze": ({}, "scalar modulator, clip 1, 0.01 U(0,1) init (backpropamine maze)"),
        "simple-maze": ({"variant": "simple-maze"}, "modulator fanned out per neuron, clip 2"),
        "legacy": ({"variant": "legacy"}, "earlier cell: U(+-1/sqrt(d)) init"),
    },
}


def describe_variants() -> str:
    """The table of ``VARIANTS``: name, label, the overrides that select it, what it is."""
    lines = [f"{'model':<16} {'variant':<12} {'overrides':<48} follows",
             "(the first variant of each model is its registry default)"]
    for name, versions in VARIANTS.items():
        for label, (overrides, what) in versions.items():
            flags = " ".join(f"{k}={v}" for k, v in overrides.items()) or "(default)"
            lines.append(f"{name:<16} {label:<12} {flags:<48} {what}")
    return "\n".join(lines)
