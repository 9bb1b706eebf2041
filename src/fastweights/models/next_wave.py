"""Presets of the next-wave rules, each in the layer its paper uses, stacked in the pre-norm
blocks of ``fastweights.models.stack`` (mixer, then MLP; equations in each layer's module):

| name    | layer                          | rule                                 |
|---------|--------------------------------|--------------------------------------|
| kda     | ``layers.kda.KDALayer``        | gated_delta_rule with a per-key gate |
| mlstm   | ``layers.mlstm.MLSTMLayer``    | mlstm_rule                           |
| rwkv7   | ``layers.rwkv7.RWKV7TimeMix``  | dplr_delta_rule                      |
| titans  | ``layers.titans.TitansMemory`` | momentum_delta_rule                  |
| oja     | ``layers.oja.OjaLayer``        | oja_rule                             |
| mesanet | ``layers.mesanet.MesaLayer``   | mesa_rule                            |

Each name's config is its layer's config plus ``ModelConfig``'s fields and ``n_layers``,
``mlp_ratio``.
"""

from __future__ import annotations

import dataclasses

from torch import nn

from fastweights.layers.kda import KDAConfig, KDALayer
from fastweights.layers.mesanet import MesaConfig, MesaLayer
from fastweights.layers.mlstm import MLSTMConfig, MLSTMLayer
from fastweights.layers.oja import OjaConfig, OjaLayer
from fastweights.layers.rwkv7 import RWKV7Config, RWKV7TimeMix
from fastweights.layers.titans import TitansConfig, TitansMemory
from fastweights.models.base import ModelConfig, ModelSpec
from fastweights.models.stack import StackModel


def _stack_post_init(self) -> None:
    ModelConfig.__post_init__(self)
    if self.n_layers < 1:
        raise ValueError(f"n_layers must be >= 1, got {self.n_layers}")
    if self.mlp_ratio < 1:
        raise ValueError(f"mlp_ratio must be >= 1, got {self.mlp_ratio}")


def stack_config(layer: type, layer_config: type) -> type:
    """``ModelConfig`` + ``layer_config`` + n_layers, mlp_ratio: the config of ``layer``'s
    registry name, importable from this module by its name (so that configs pickle)."""
    name = layer.__name__ + "ModelConfig"
    cfg = dataclasses.make_dataclass(
        name, [("n_layers", int, 2), ("mlp_ratio", int, 2)], bases=(ModelConfig, layer_config),
        namespace={"__post_init__": _stack_post_init, "__module__": __name__})
    globals()[name] = cfg
    return cfg


class RuleStackModel(StackModel):
    """A stack whose every mixer is ``type(self).layer(config)``."""

    layer: type[nn.Module]

    def mixer(self, i: int) -> nn.Module:
        return self.layer(self.config)


def _spec(layer: type, config: type, paper: str) -> ModelSpec:
    model = type(f"{layer.__name__}Model", (RuleStackModel,),
                 {"layer": layer, "__module__": __name__})
    globals()[model.__name__] = model
    return ModelSpec(model, stack_config(layer, config), paper,
                     layer=lambda d_model, n_heads: layer(config(d_model=d_model,
                                                                 n_heads=n_heads)))


SPECS = {
    "kda": _spec(KDALayer, KDAConfig, "Kimi Team 2025, Kimi Linear: Kimi Delta Attention "
                 "(per-key gated delta rule, gated RMSNorm)"),
    "mlstm": _spec(MLSTMLayer, MLSTMConfig, "Beck et al. 2024, xLSTM: the mLSTM block "
                   "(exponential gating, matrix memory)"),
    "rwkv7": _spec(RWKV7TimeMix, RWKV7Config, "Peng et al. 2025, RWKV-7 \"Goose\": time mix "
                   "with the generalised delta rule (DPLR)"),
    "titans": _spec(TitansMemory, TitansConfig, "Behrouz, Zhong & Mirrokni 2025, Titans: the "
                    "linear memory as a layer (momentum delta rule)"),
    "oja": _spec(OjaLayer, OjaConfig, "Oja 1982; Irie & Gershman 2025: a fast weight "
                 "programmer with Oja's normalised Hebbian rule"),
    "mesanet": _spec(MesaLayer, MesaConfig, "von Oswald et al. 2025, MesaNet: the Mesa layer "
                     "(optimal in-context ridge regression)"),
}
